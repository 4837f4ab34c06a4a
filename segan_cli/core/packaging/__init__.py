"""A trained generator made into something to ship: the packaged model file
(``model_file`` writes it, ``record`` reads its record back) and TorchScript or ONNX
exports (``export``)."""
