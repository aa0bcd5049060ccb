"""The one class list. FER-2013 order: the integer label of a class is its index here."""

from __future__ import annotations

CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES = len(CLASSES)

DISPLAY = {
    "angry": "Angry",
    "disgust": "Disgust",
    "fear": "Fear",
    "happy": "Happy",
    "sad": "Sad",
    "surprise": "Surprise",
    "neutral": "Neutral",
}

# One colour per class, used by every figure and annotation so plots read alike.
COLOURS = {
    "angry": "#d62728",
    "disgust": "#8c564b",
    "fear": "#9467bd",
    "happy": "#ffbf00",
    "sad": "#1f77b4",
    "surprise": "#ff7f0e",
    "neutral": "#7f7f7f",
}

# Folder names seen in real FER-style downloads (lower-cased) -> canonical class.
ALIASES = {
    **{c: c for c in CLASSES},
    "anger": "angry",
    "mad": "angry",
    "disgusted": "disgust",
    "disgusting": "disgust",
    "fearful": "fear",
    "afraid": "fear",
    "scared": "fear",
    "happiness": "happy",
    "joy": "happy",
    "sadness": "sad",
    "surprised": "surprise",
    "neutrality": "neutral",
    "calm": "neutral",
}


def canonical_class(name: str) -> str | None:
    """Map a folder name such as 'Happiness' or '3_happy' to a class name, or None if unknown."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    if key in ALIASES:
        return ALIASES[key]
    # "3_happy" / "happy_3": folders that carry the FER code beside the name.
    for part in key.split("_"):
        if part in ALIASES:
            return ALIASES[part]
    return None
