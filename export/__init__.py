"""export: tfnas models to SavedModel, plain Keras, ONNX and TFLite, checked for parity.

One module per concern: `serving` (the plain-Keras deployment model: uint8 images ->
probabilities), `saved_model`, `onnx`, `tflite` (writers and runners), `parity` (comparison
on real images), `latency`, `card` (model card JSON), `source` (what `--model` names) and
`exporter` (`export_model(ExportConfig)`, the whole pipeline). The CLI is
`python -m export` (see `export/__main__.py`).
"""
