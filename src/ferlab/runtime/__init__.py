"""What running a trained network needs, below every layer that runs one: onnxruntime sessions
(detectors and classifiers alike) and turning network outputs into calibrated probabilities.
Imports nothing of ferlab's above errors, paths and io."""
