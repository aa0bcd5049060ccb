"""Every setting of the recognition pipeline as one frozen value, defaulted and checked here once.

predict, video, explain, evaluate --detect, serve and the batch job all build a
`RecognizerOptions` (the CLI through `ferlab.cli.recognition`), and a `Recognizer` is made from it.
Being a plain frozen dataclass it pickles, so worker processes and Ray actors get the very
settings the command line asked for. Imports nothing heavy.

None in a field means "what the model's card ships" (tta, backend, precision) or "the
detector's preset for this mode" (search side, threshold): photos are searched at 640 px with
CenterFace's threshold 0.3, video frames at 320 px with 0.5 (benchmarks/detectors.py chose them;
the presets live with each detector in ferlab.detectors).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

from ferlab.errors import FerlabError
from ferlab.tta import TTA_MODES

PRIORS = ("none", "uniform", "collection")  # ferlab.runtime.prior

MODES = ("photo", "video")


@dataclass(frozen=True)
class DetectorOptions:
    """Which face detector, and how it searches."""

    name: str = "centerface"
    weights: str | None = None  # the detector's weights file, where it needs one (YuNet)
    search_side: int | None = None  # longer side images are scaled down to before searching
    threshold: float | None = None  # detection score below which a box is dropped
    min_face: int = 16  # smallest face side searched for, in pixels

    def __post_init__(self) -> None:
        if self.search_side is not None and (not _whole(self.search_side) or self.search_side < 32):
            raise FerlabError(f"search side must be a whole number of pixels ≥ 32, got {self.search_side!r}")
        if self.threshold is not None and not (0.0 < float(self.threshold) < 1.0):
            raise FerlabError(f"detector threshold must be between 0 and 1, got {self.threshold!r}")
        if not _whole(self.min_face) or self.min_face < 1:
            raise FerlabError(f"smallest face must be a whole number of pixels ≥ 1, got {self.min_face!r}")


@dataclass(frozen=True)
class RecognizerOptions:
    """How a `Recognizer` finds and labels faces. `mode`: "photo" or "video" (the detector's
    search presets, and no test-time augmentation by default on video: real time comes first)."""

    model: str | None = None  # a bundled name or a checkpoint path; None: the bundled default
    mode: str = "photo"
    detector: DetectorOptions = field(default_factory=DetectorOptions)
    align: bool = True  # upright on the eye landmarks and framed as FER-2013 faces are
    tta: str | None = None
    backend: str | None = None  # "torch" or "onnxruntime"
    precision: str | None = None  # "fp32" or "int8" (onnxruntime)
    calibrated: bool = True  # apply the card's temperature, so a confidence means what it says
    min_confidence: float = 0.0  # below it a face is labelled "uncertain"
    max_faces: int | None = None  # classify only the largest N faces per image
    margin: float = 0.1  # context around a box for the square crop (no alignment)
    device: str = "auto"  # "auto" (a GPU where one is usable, else the CPU), "cpu", "cuda", or a torch device
    threads: int | None = None  # onnxruntime threads per session (workers use 1 each)
    # the class prior faces are labelled under: "none" (the model's training set's), "uniform", or
    # "collection" (estimated from the faces of a whole collection: ferlab.runtime.prior)
    prior: str = "none"
    # 7 (FER-2013's classes) or 8 (FER+'s, with contempt): without a model, the bundled default for
    # that many; with one, a check that it gives that many; None: the model's own
    classes: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise FerlabError(f"unknown mode {self.mode!r}; use {' or '.join(MODES)}")
        if isinstance(self.detector, str):  # RecognizerOptions(detector="yunet") reads naturally
            object.__setattr__(self, "detector", DetectorOptions(name=self.detector))
        if self.tta is not None and self.tta not in TTA_MODES:
            raise FerlabError(f"unknown test-time augmentation {self.tta!r} (use {', '.join(TTA_MODES)})")
        if self.backend not in (None, "torch", "onnxruntime"):
            raise FerlabError(f"unknown backend {self.backend!r}; use 'torch' or 'onnxruntime'")
        if self.precision not in (None, "fp32", "int8"):
            raise FerlabError(f"unknown precision {self.precision!r}; use 'fp32' or 'int8'")
        mc = self.min_confidence
        if isinstance(mc, bool) or not isinstance(mc, int | float) or math.isnan(mc) or not 0.0 <= mc <= 1.0:
            raise FerlabError(f"min_confidence must be a probability in [0, 1], got {mc!r}")
        if self.max_faces is not None and (not _whole(self.max_faces) or self.max_faces < 1):
            raise FerlabError(f"max_faces must be a whole number ≥ 1, got {self.max_faces!r}")
        if not 0.0 <= float(self.margin) <= 1.0:
            raise FerlabError(f"margin must be a fraction of the face's side in [0, 1], got {self.margin!r}")
        if self.classes not in (None, 7, 8):
            raise FerlabError(f"classes must be 7 (FER-2013's) or 8 (FER+'s, with contempt), got {self.classes!r}")
        if self.prior not in PRIORS:
            raise FerlabError(f"unknown prior {self.prior!r}; use {', '.join(PRIORS)}")
        if self.threads is not None and (not _whole(self.threads) or self.threads < 1):
            raise FerlabError(f"threads must be a whole number ≥ 1, got {self.threads!r}")

    def replace(self, **changes) -> RecognizerOptions:
        """A copy with some fields changed; detector fields may be given by name (search_side=320)."""
        det = {k: changes.pop(k) for k in list(changes) if k in DetectorOptions.__dataclass_fields__ and k != "name"}
        if det:
            changes["detector"] = replace(changes.get("detector", self.detector), **det)
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)


def _whole(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)
