"""ferlab: facial emotion recognition on FER-2013 — the study's CNNs and ViTs, and a bundled model."""

from ferlab.labels import CLASSES

__version__ = "0.1.0"
__all__ = ["CLASSES", "Face", "Recognizer", "__version__"]


def __getattr__(name: str):
    # Lazy, so `import ferlab` stays light for the CLI and data tools.
    if name in ("Recognizer", "Face"):
        from ferlab.inference import recognizer

        return getattr(recognizer, name)
    raise AttributeError(f"module 'ferlab' has no attribute {name!r}")
