"""Recognition on real images and video: face detection, the Recognizer API, explanations, ONNX."""
