"""A trained generator made into something to ship: the packaged model file
(``model_file``; its record is read back by :mod:`~segan_cli.core.enhancement.package_record`,
as loading a model needs it) and TorchScript or ONNX exports (``export``)."""
