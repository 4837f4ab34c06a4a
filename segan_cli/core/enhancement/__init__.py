"""Enhancement with a trained model: a checkpoint or packaged file to a window model
(``inference``; a packaged file's record: ``package_record``), a whole file streamed
through it (``whole_file``; ``full_band`` keeps the band above the model's rate), files
and folder trees with workers (``batch_enhance``), live pipes (``pipe_stream``), and
corpora on Lightning's predict loop (``corpus``)."""
