"""The one class list. FER-2013 order: the integer label of a class is its index here. FER+'s
8-class protocol (Barsoum et al. 2016) adds contempt after them, as index 7."""

from __future__ import annotations

from ferlab.errors import FerlabError

CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES = len(CLASSES)
CLASSES_8: tuple[str, ...] = (*CLASSES, "contempt")


def classes_for(n: int) -> tuple[str, ...]:
    """The class list of a model or label set with n classes: FER-2013's 7 or FER+'s 8."""
    if n == len(CLASSES):
        return CLASSES
    if n == len(CLASSES_8):
        return CLASSES_8
    raise FerlabError(f"{n} classes: ferlab knows FER-2013's 7 ({', '.join(CLASSES)}) and FER+'s 8 (with contempt)")


DISPLAY = {
    "angry": "Angry",
    "disgust": "Disgust",
    "fear": "Fear",
    "happy": "Happy",
    "sad": "Sad",
    "surprise": "Surprise",
    "neutral": "Neutral",
    "contempt": "Contempt",
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
    "contempt": "#17becf",
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
    "contempt": "contempt",
    "contemptuous": "contempt",
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
