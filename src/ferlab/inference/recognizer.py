"""The public API: `Recognizer` finds faces and names their emotions.

from ferlab import Recognizer
rec = Recognizer()                       # the bundled default model, torch on CPU
for face in rec.predict("photo.jpg"):
    print(face.box, face.label, face.confidence)

Importing this module and predicting loads only what predicting needs: never torchmetrics,
Lightning or transformers, and with backend="onnxruntime" not even torch (once the model's ONNX
export is cached, which its first use makes).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ferlab.card import read_card, shipped_tta
from ferlab.detectors import build_detector, check_searchable, detector_spec, resolved
from ferlab.detectors.base import Detection, FaceDetector, sort_detections
from ferlab.errors import FerlabError
from ferlab.inference.faces import face_crop, to_face_array
from ferlab.inference.images import open_image, open_image_bytes
from ferlab.options import DetectorOptions, RecognizerOptions
from ferlab.preprocess import to_model_input_np
from ferlab.runtime.probs import temper
from ferlab.tta import averaged_np, tta_mode

# the label of a face whose most likely class is less probable than Recognizer(min_confidence=...)
UNCERTAIN = "uncertain"
# a face crop whose gray levels span less than this holds nothing to classify (all black, all white)
FLAT_RANGE = 8

if TYPE_CHECKING:
    import torch

ImageLike = str | os.PathLike | Image.Image | np.ndarray


@dataclass
class Face:
    """One face: where it is, how sure the detector was, and the emotion probabilities.

    `probs` are full precision here; `to_dict` rounds them for writing. `landmarks`: the
    detector's five points (eyes, nose tip, mouth corners; each pair left to right in the image),
    None for detectors without them and for faces given pre-cropped.
    """

    box: tuple[int, int, int, int]  # x, y, w, h in pixels of the image as given
    score: float  # detection score (1.0 for faces given pre-cropped)
    label: str
    probs: dict[str, float]
    landmarks: tuple[tuple[float, float], ...] | None = None

    @property
    def confidence(self) -> float:
        """The probability of the most likely class (calibrated where the model ships a temperature)."""
        return max(self.probs.values())

    def scaled(self, factor: float) -> Face:
        """The same face with its box and landmarks in coordinates `factor` times larger."""
        if factor == 1.0:
            return self
        marks = None if self.landmarks is None else tuple((x * factor, y * factor) for x, y in self.landmarks)
        return replace(self, box=tuple(round(v * factor) for v in self.box), landmarks=marks)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["box"] = list(self.box)
        d["score"] = round(float(self.score), 4)
        d["confidence"] = round(float(self.confidence), 5)
        d["probs"] = {c: round(float(v), 5) for c, v in self.probs.items()}
        d["landmarks"] = None if self.landmarks is None else [[round(x, 1), round(y, 1)] for x, y in self.landmarks]
        return d


@dataclass
class FoundFace:
    """A detection and the model input made from it (48×48 uint8, aligned where possible)."""

    detection: Detection
    crop: np.ndarray


@dataclass
class ImageResult:
    """What `Recognizer.run` makes of one image. status: "ok" (faces found), "no_face", or
    "error" (then `error` holds the one-line message). size: the source's (width, height);
    decoded_size and scale: what it was decoded to (a large JPEG is decoded reduced; source
    pixels = decoded pixels / scale). Face boxes and landmarks are in the source's pixels.
    dropped: faces left out by `max_faces`. pixels: the decoded RGB image, only when asked for."""

    source: str
    status: str
    faces: list[Face]
    error: str | None = None
    size: tuple[int, int] | None = None
    decoded_size: tuple[int, int] | None = None
    scale: float = 1.0
    dropped: int = 0
    pixels: np.ndarray | None = field(default=None, repr=False, compare=False)


class FoundFaces(list):
    """The faces found in one image (a list of FoundFace) and how many more were left out by a
    cap on faces per image (the largest are kept)."""

    dropped: int = 0


def _face_inputs(crops) -> list:
    """What classify_faces accepts → a list of single face images."""
    if isinstance(crops, str | os.PathLike | Image.Image):
        return [crops]
    if isinstance(crops, np.ndarray):
        if crops.ndim == 2 or (crops.ndim == 3 and crops.shape[2] in (1, 3, 4)):
            return [crops]  # one face: H×W gray, or H×W×C
        if crops.ndim == 3 and crops.dtype == np.uint8:
            return list(crops)  # a stack of gray faces, N×H×W uint8
        if crops.ndim == 4:
            return list(crops)  # a stack of N×H×W×C faces
        raise FerlabError(
            f"classify_faces: array of shape {crops.shape} and dtype {crops.dtype} is neither one face "
            "(H×W or H×W×C) nor a stack of faces (N×H×W uint8, or N×H×W×C)"
        )
    if isinstance(crops, list | tuple):
        return list(crops)
    raise FerlabError(
        f"classify_faces: cannot read faces from {type(crops).__name__}: give a face image (path, PIL image, "
        "numpy array) or a list of them"
    )


class Recognizer:
    """Finds faces in images and names their emotions with a trained model.

    model: a bundled model's name (default: the bundled default), or a path to a checkpoint
        file, checkpoint folder or run directory.
    backend: "torch" or "onnxruntime"; default: what the model's card ships (else torch). With
        onnxruntime the model runs without torch (exported once to the cache dir, or the ONNX file
        shipped beside a bundled model).
    precision: "fp32", or "int8" (onnxruntime, where the model ships an int8 file); default: the card's.
    calibrated: apply the temperature the card carries (fitted on held-out data), so a face's
        confidence means what it says; the predicted class is the same either way.
    min_confidence: faces whose top probability is below this are labelled "uncertain".
    device: "auto" (default: onnxruntime's CUDA provider or torch's GPU where usable, else the
        CPU), "cpu", "cuda", or a torch device; `runs_on` says which was used.
    detector: "centerface" (default, shipped), "yunet" (weights where found, see
        `detector_weights`), "haar", or any object with `detect(rgb) -> list[Detection]`.
    detector_weights: path of the detector's weights where it needs them (YuNet).
    align: turn each face upright on its eye landmarks and frame it as FER-2013 faces are
        (detectors with landmarks); False crops a square around the box instead.
    tta: test-time augmentation, "none", "flip", "zoomflip" or "multi" (ferlab.tta); default: the card's.
    margin: context added around a box for the square crop (fraction of its side).
    min_face: smallest face side searched for, in pixels.
    search_side: photos are searched for faces with their longer side scaled down to this (default
        640); smaller is faster and misses small faces (benchmarks/face_size.py measures both).
    """

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        *,
        options: RecognizerOptions | None = None,
        detector: str | FaceDetector | None = None,
        **settings,
    ) -> None:
        """`options` carries every setting; the keyword settings (any RecognizerOptions field, and
        detector_weights, search_side, min_face, threshold for the detector) change it."""
        opts = options or RecognizerOptions()
        if model is not None:
            opts = opts.replace(model=str(model))
        if isinstance(settings.get("tta"), bool):
            settings["tta"] = tta_mode(settings["tta"])
        if "detector_weights" in settings:
            w = settings.pop("detector_weights")
            settings["weights"] = None if w is None else str(w)
        if isinstance(detector, str):
            opts = opts.replace(detector=replace(opts.detector, name=detector))
        known = set(RecognizerOptions.__dataclass_fields__) | set(DetectorOptions.__dataclass_fields__)
        unknown = set(settings) - known
        if unknown:
            raise TypeError(f"Recognizer got unknown settings: {', '.join(sorted(unknown))}")
        self.options = opts = opts.replace(**settings) if settings else opts
        detector_spec(opts.detector.name)  # an unknown name fails here, not at the first image
        self.card = read_card(opts.model)
        shipped = self.card.get("inference", {})
        backend = opts.backend or shipped.get("backend", "torch")
        if self.card.get("_onnx") and backend != "onnxruntime":
            raise FerlabError(f"{self.card['_onnx']}: an ONNX file runs with --backend onnxruntime only")
        precision = opts.precision or (shipped.get("precision", "fp32") if backend == "onnxruntime" else "fp32")
        if precision == "int8" and (backend != "onnxruntime" or not shipped.get("onnx_int8")):
            raise FerlabError(
                f"{self.card['name']}: int8 needs the onnxruntime backend and a model that ships an int8 file"
            )
        self.backend, self.precision = backend, precision
        self.device = _torch_device(opts.device) if backend == "torch" else opts.device
        self.temperature = float(shipped.get("temperature", 1.0)) if opts.calibrated else 1.0
        self.min_confidence = float(opts.min_confidence)
        self._model = None
        if backend == "torch":
            from ferlab.checkpoint import load_model

            self._model, self.card = load_model(self.card["_path"], device=self.device)
        self.classes: list[str] = list(self.card["classes"])
        # the card says which test-time augmentation the model was measured and shipped with;
        # video runs one pass per face unless told otherwise (real time comes first)
        default_tta = shipped_tta(self.card) if opts.mode == "photo" else "none"
        self.tta = tta_mode(opts.tta or default_tta)
        self.margin = opts.margin
        self.align = opts.align
        self._custom_detector: FaceDetector | None = None if isinstance(detector, str | None) else detector
        self._detector: FaceDetector | None = self._custom_detector
        self.search_side = resolved(opts.detector, opts.mode)["search_side"]
        self._ort = None
        if backend == "onnxruntime":
            from pathlib import Path

            from ferlab.runtime.onnx import OnnxSession, export_cache_path

            run_on = {"threads": opts.threads, "device": opts.device}
            if self.card.get("_onnx"):  # an exported ONNX file given as the model
                self._ort = OnnxSession(self.card["_onnx"], **run_on)
            elif precision == "int8":
                self._ort = OnnxSession(Path(self.card["_path"]).parent / shipped["onnx_int8"], **run_on)
            elif (cached := export_cache_path(self.card)).exists():  # exported before: no torch needed
                self._ort = OnnxSession(cached, **run_on)
            else:
                from ferlab.checkpoint import onnx_session

                self._ort = onnx_session(self.card, **run_on)

    @property
    def model(self) -> torch.nn.Module:
        """The torch network (loaded on first use with the onnxruntime backend, e.g. for Grad-CAM)."""
        if self._model is None:
            from ferlab.checkpoint import load_model

            self._model, _ = load_model(self.card["_path"], device=_torch_device(self.device))
        return self._model

    @property
    def decode_side(self) -> int:
        """Large JPEG files are decoded reduced to about this longer side: twice the detector's search size."""
        return 2 * getattr(self.detector, "max_side", self.search_side)

    @property
    def runs_on(self) -> str:
        """Where the classifier runs, in words: "onnxruntime on CPU", "torch on cuda:0"..."""
        if self._ort is not None:
            provider = self._ort.session.get_providers()[0]
            return f"onnxruntime on {'CUDA' if provider.startswith('CUDA') else 'CPU'}"
        return f"torch on {self.device}"

    @property
    def detector_name(self) -> str:
        d = self._custom_detector
        return self.options.detector.name if d is None else getattr(d, "name", type(d).__name__)

    def video_detector(self, max_side: int | None = None) -> FaceDetector:
        """The detector for video frames: the user's own, else the named one with its video preset."""
        if self._custom_detector is not None:
            return self._custom_detector
        det = self.options.detector if max_side is None else replace(self.options.detector, search_side=max_side)
        return build_detector(options=det, mode="video", threads=self.options.threads)

    @property
    def detector(self) -> FaceDetector:
        if self._detector is None:  # built on first use: classify_faces never needs it
            self._detector = build_detector(
                options=self.options.detector, mode=self.options.mode, threads=self.options.threads
            )
        return self._detector

    @property
    def name(self) -> str:
        return self.card["name"]

    # -- classification of 48×48 uint8 faces
    def probabilities(self, faces: np.ndarray | torch.Tensor) -> np.ndarray:
        """uint8 (N,48,48) faces → (N,7) probabilities, in the card's class order."""
        faces = np.asarray(faces, dtype=np.uint8)
        if len(faces) == 0:
            return np.zeros((0, len(self.classes)), np.float32)
        mean, std = self.card["input"]["mean"], self.card["input"]["std"]
        if self._ort is not None:
            p = averaged_np(self._ort.probs, to_model_input_np(faces, mean, std), self.tta)
        else:
            import torch

            from ferlab.preprocess import to_model_input
            from ferlab.runtime.probs import model_probs
            from ferlab.tta import averaged

            x = to_model_input(torch.from_numpy(faces), mean, std)
            with torch.inference_mode():
                p = averaged(lambda v: model_probs(self._model, v), x.to(self.device), self.tta).cpu().numpy()
        return temper(p, self.temperature)

    def faces_from(
        self, dets: list[Detection], probs: np.ndarray, *, min_confidence: float | None = None
    ) -> list[Face]:
        """Faces from detections and their probabilities; below `min_confidence` (default: the
        recognizer's) a face is labelled "uncertain"."""
        least = self.min_confidence if min_confidence is None else min_confidence
        return [
            Face(
                tuple(int(v) for v in d.box),
                float(d.score),
                self.classes[int(p.argmax())] if p.max() >= least else UNCERTAIN,
                {c: float(v) for c, v in zip(self.classes, p, strict=True)},
                d.landmarks,
            )
            for d, p in zip(dets, probs, strict=True)
        ]

    def classify_faces(self, crops: ImageLike | list[ImageLike] | np.ndarray, *, bgr: bool = False) -> list[Face]:
        """Already-cropped faces, no detection: one face (a path, PIL image or array H×W / H×W×C),
        a list of them, or a stack as an array (N×H×W uint8 gray, or N×H×W×C). bgr=True for
        arrays in OpenCV's channel order (`cv2.imread`). Each Face's box is the whole crop.

        Framing: the model was trained on FER-2013's crops — the face filling the square, from
        the eyebrows to the chin, upright. `predict` frames each face that way (turned upright on
        its eyes); a raw `face.box` crop is looser and can get another label, so pass crops
        framed like FER-2013's, or use `predict`. A crop with no content (all one colour, such
        as an all-black frame) is labelled "uncertain" with uniform probabilities."""
        images = [open_image(c, bgr=bgr)[0] for c in _face_inputs(crops)]
        if not images:
            return []
        arrays = np.stack([to_face_array(im) for im in images])
        probs = self.probabilities(arrays)
        flat = (arrays.max(axis=(1, 2)).astype(int) - arrays.min(axis=(1, 2))) < FLAT_RANGE
        probs[flat] = 1.0 / len(self.classes)
        faces = self.faces_from([Detection((0, 0, im.shape[1], im.shape[0]), 1.0) for im in images], probs)
        for i in np.flatnonzero(flat):
            faces[i] = replace(faces[i], label=UNCERTAIN)
        return faces

    # -- detection: the one path from an image to model inputs (photos, video, server, explain)
    def find_faces(
        self,
        rgb: np.ndarray,
        *,
        detector: FaceDetector | None = None,
        where: str = "image",
        max_faces: int | None = None,
    ) -> FoundFaces:
        """Faces in an RGB image, left to right, each with its 48×48 model input. max_faces: keep
        only this many, the largest (the result's `dropped` says how many were left out)."""
        check_searchable(rgb, where)
        dets = (detector or self.detector).detect(rgb)
        dropped = 0
        if max_faces is not None and len(dets) > max_faces:
            dropped = len(dets) - max_faces
            dets = sort_detections(sorted(dets, key=lambda d: d.box[2] * d.box[3], reverse=True)[:max_faces])
        out = FoundFaces(FoundFace(d, face_crop(rgb, d, align=self.align, margin=self.margin)) for d in dets)
        out.dropped = dropped
        return out

    def detect(self, image: ImageLike, *, bgr: bool = False) -> tuple[np.ndarray, list[FoundFace]]:
        """(the RGB image as decoded, its faces); boxes in the decoded image's pixels."""
        rgb = open_image(image, bgr=bgr)[0]
        return rgb, self.find_faces(rgb, where=_where(image))

    def run(self, image: ImageLike, *, bgr: bool = False, name: str | None = None) -> ImageResult:
        """The one path from an image to labelled faces: decode (large JPEGs reduced while
        decoding), detect, align, classify. Never raises for a bad image: the result's status is
        "error" with the one-line message. Boxes are in the source's own pixels."""
        return self.run_batch([image], bgr=bgr, names=[name])[0]

    def run_batch(
        self, images: list[ImageLike], *, bgr: bool = False, names: list[str | None] | None = None, keep_pixels=False
    ) -> list[ImageResult]:
        """`run` over several images (anything `run` takes, or an image file's bytes), their faces
        classified in one model call. keep_pixels: keep each decoded image on its result (for
        drawing annotated copies)."""
        staged: list[tuple[ImageResult, FoundFaces, float]] = []
        for im, name in zip(images, names or [None] * len(images), strict=True):
            where = name or _where(im)
            try:
                if isinstance(im, bytes | bytearray | memoryview):  # an image file's bytes (Ray, uploads)
                    rgb, scale = open_image_bytes(bytes(im), where, min_side=self.decode_side, searchable=True)
                else:
                    rgb, scale = open_image(im, bgr=bgr, min_side=self.decode_side, searchable=True)
                found = self.find_faces(rgb, where=where, max_faces=self.options.max_faces)
            except FerlabError as e:
                staged.append((ImageResult(where, "error", [], error=str(e)), FoundFaces(), 1.0))
                continue
            h, w = rgb.shape[:2]
            res = ImageResult(
                where,
                "ok" if found else "no_face",
                [],
                size=(round(w / scale), round(h / scale)),
                decoded_size=(w, h),
                scale=scale,
                dropped=found.dropped,
                pixels=rgb if keep_pixels else None,
            )
            staged.append((res, found, scale))
        crops = [f.crop for _, faces, _ in staged for f in faces]
        probs = self.probabilities(np.stack(crops)) if crops else np.zeros((0, len(self.classes)))
        i = 0
        for res, faces, scale in staged:
            dets = [f.detection for f in faces]
            res.faces = [f.scaled(1 / scale) for f in self.faces_from(dets, probs[i : i + len(dets)])]
            i += len(dets)
        return [res for res, _, _ in staged]

    def predict(self, image: ImageLike, *, bgr: bool = False, name: str | None = None) -> list[Face]:
        """Every face found in one image, left to right. No face → an empty list; an unreadable
        image raises FerlabError. `name`: what error messages call an image given as an array."""
        return self.predict_batch([image], bgr=bgr, names=[name])[0]

    def predict_batch(
        self, images: list[ImageLike], *, bgr: bool = False, names: list[str | None] | None = None
    ) -> list[list[Face]]:
        """Faces of each image (`run_batch`'s, raising on the first unreadable image)."""
        results = self.run_batch(images, bgr=bgr, names=names)
        for r in results:
            if r.status == "error":
                raise FerlabError(r.error)
        return [r.faces for r in results]


def _torch_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _where(image) -> str:
    return str(image) if isinstance(image, str | os.PathLike) else "image"
