"""Signal processing without a model: streamed window stitching (overlap-add) and the
Wiener baseline, whole-file and streamed."""
