"""ferlab: facial emotion recognition on FER-2013 — the study's CNNs and ViTs, and a bundled model."""

from ferlab.labels import CLASSES

__version__ = "0.1.0"
__all__ = ["CLASSES", "__version__"]
