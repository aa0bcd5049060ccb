"""The public API: `Recognizer` finds faces and names their emotions.

from ferlab import Recognizer
rec = Recognizer()                       # the bundled default, as its card ships it (onnxruntime int8)
for face in rec.predict("photo.jpg"):
    print(face.box, face.label, face.confidence)

Importing this module and predicting loads only what predicting needs: never torchmetrics,
Lightning or transformers, and with backend="onnxruntime" (the bundled models' default) not even
torch (a checkpoint without an ONNX file beside it is exported once, with torch, and cached).

Recognition runs in stages, as Hugging Face pipelines do: `preprocess` (decode, detect, crop) →
`probabilities` (a stack of crops, one model call) → `postprocess` (labelled faces in the source's
pixels). `run`/`run_batch` chain them; the server, video and evaluation put their own work between.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ferlab.card import ModelCard, default_model, read_card
from ferlab.detectors import build_detector, check_searchable, detector_spec, resolved
from ferlab.detectors.base import Detection, FaceDetector, sort_detections
from ferlab.errors import FerlabError
from ferlab.inference.faces import FACE_SIZE, face_crop, to_face_array
from ferlab.inference.images import open_image, open_image_bytes
from ferlab.options import DetectorOptions, RecognizerOptions
from ferlab.preprocess import to_model_input_np
from ferlab.runtime.prior import shift, target_prior
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

    @property
    def crops(self) -> np.ndarray:
        """The faces' 48×48 model inputs as one (N, 48, 48) uint8 stack."""
        return np.stack([f.crop for f in self]) if self else np.zeros((0, FACE_SIZE, FACE_SIZE), np.uint8)


@dataclass
class Staged:
    """An image after `Recognizer.preprocess`: where it came from, the RGB image as decoded, the
    decoding scale (source pixels = decoded pixels / scale) and its faces with their model inputs."""

    source: str
    rgb: np.ndarray = field(repr=False)
    scale: float
    found: FoundFaces

    @property
    def crops(self) -> np.ndarray:
        return self.found.crops


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
        self.card = read_card(opts.model if opts.model is not None else default_model(opts.classes))
        _check_classes(self.card, opts.classes)
        shipped = ModelCard.from_dict(self.card, self.card["_path"]).inference  # how the model ships
        backend = opts.backend or shipped.backend
        if self.card.get("_onnx") and backend != "onnxruntime":
            raise FerlabError(f"{self.card['_onnx']}: an ONNX file runs with --backend onnxruntime only")
        precision = opts.precision or (shipped.precision if backend == "onnxruntime" else "fp32")
        if precision == "int8" and (backend != "onnxruntime" or not shipped.onnx_int8):
            raise FerlabError(
                f"{self.card['name']}: int8 needs the onnxruntime backend and a model that ships an int8 file"
            )
        self.backend, self.precision = backend, precision
        self.device = _torch_device(opts.device) if backend == "torch" else opts.device
        self.temperature = float(shipped.temperature or 1.0) if opts.calibrated else 1.0
        self.train_prior = None if shipped.train_prior is None else np.asarray(shipped.train_prior, np.float64)
        if opts.prior != "none" and self.train_prior is None:
            raise FerlabError(
                f"{self.card['name']}: its card does not say the class prior it learned, which --prior {opts.prior} "
                "re-weights (scripts/class_prior.py NAME records it)"
            )
        self.target_prior = target_prior(opts.prior, len(self.train_prior)) if opts.prior != "none" else None
        self.min_confidence = float(opts.min_confidence)
        self._model = None
        if backend == "torch":
            from ferlab.checkpoint import load_model

            self._model, self.card = load_model(self.card["_path"], device=self.device)
        self.classes: list[str] = list(self.card["classes"])
        # the card says which test-time augmentation the model was measured and shipped with;
        # video runs one pass per face unless told otherwise (real time comes first)
        self.tta = tta_mode(opts.tta or (shipped.tta if opts.mode == "photo" else "none"))
        self.margin = opts.margin
        self.align = opts.align
        self._custom_detector: FaceDetector | None = None if isinstance(detector, str | None) else detector
        self._detector: FaceDetector | None = self._custom_detector
        self.search_side = resolved(opts.detector, opts.mode)["search_side"]
        self._ort = self._onnx_session(shipped.onnx_int8) if backend == "onnxruntime" else None

    def _onnx_session(self, int8_file: str | None):
        """The onnxruntime session: the ONNX file given as the model, the shipped int8 copy, a cached
        export (no torch needed), or a fresh export (torch, once)."""
        from pathlib import Path

        from ferlab.runtime.onnx import OnnxSession, export_cache_path

        run_on = {"threads": self.options.threads, "device": self.options.device}
        if self.card.get("_onnx"):
            return OnnxSession(self.card["_onnx"], **run_on)
        if self.precision == "int8":
            from ferlab.runtime.cpu import int8_kernels

            return OnnxSession(Path(self.card["_path"]).parent / int8_file, fuse_int8=int8_kernels(), **run_on)
        if (cached := export_cache_path(self.card)).exists():
            return OnnxSession(cached, **run_on)
        from ferlab.checkpoint import onnx_session

        return onnx_session(self.card, **run_on)

    def settings(self) -> dict:
        """What made this recognizer's numbers, as every output records them (evaluation results,
        batch files, server answers, video summaries)."""
        return {
            "model": self.name,
            "checkpoint": self.card["_path"],
            "architecture": self.card["architecture"],
            "created": self.card.get("created"),
            "tta": self.tta,
            "backend": self.backend,
            "precision": self.precision,
            "temperature": self.temperature,
            "detector": self.detector_name,
        }

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
        """How and where the classifier runs, in words: "onnxruntime int8 on CPU", "torch fp32 on cuda:0"..."""
        if self._ort is not None:
            provider = self._ort.session.get_providers()[0]
            kernels = "" if self._ort.fuse_int8 or self.precision != "int8" else " (fp32 kernels: no VNNI)"
            return f"onnxruntime {self.precision}{kernels} on {'CUDA' if provider.startswith('CUDA') else 'CPU'}"
        return f"torch {self.precision} on {self.device}"

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
        p = temper(p, self.temperature)
        return p if self.target_prior is None else shift(p, self.train_prior, self.target_prior)

    def under_prior(self, results: list[ImageResult], target: np.ndarray) -> list[ImageResult]:
        """The same images' faces labelled under another class prior (`--prior collection`: one
        estimated from the whole collection, ferlab.runtime.prior.estimate)."""
        out = []
        for r in results:
            if not r.faces:
                out.append(r)
                continue
            probs = shift(np.array([[f.probs[c] for c in self.classes] for f in r.faces]), self.train_prior, target)
            relabelled = self.faces_from([Detection(f.box, f.score, f.landmarks) for f in r.faces], probs)
            out.append(replace(r, faces=relabelled))
        return out

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

    def classify_faces(
        self, crops: ImageLike | list[ImageLike] | np.ndarray, *, bgr: bool = False, reframe: bool = False
    ) -> list[Face]:
        """Already-cropped faces: one face (a path, PIL image or array H×W / H×W×C), a list of
        them, or a stack as an array (N×H×W uint8 gray, or N×H×W×C). bgr=True for arrays in
        OpenCV's channel order (`cv2.imread`). Each Face's box is the whole crop.

        Framing: the model was trained on FER-2013's crops — the face filling the square, from
        the eyebrows to the chin, upright. Without `reframe` each crop is taken as it is (squeezed
        to 48×48), so pass crops framed like FER-2013's. `reframe=True` finds the face inside each
        crop and frames it as `predict` does (upright on its eyes; the whole crop where no face is
        found): on SFEW's film-face crops that lifts balanced accuracy from 0.37 to 0.41
        (benchmarks/real_faces.py). A crop with no content (all one colour, such as an all-black
        frame) is labelled "uncertain" with uniform probabilities."""
        images = [open_image(c, bgr=bgr)[0] for c in _face_inputs(crops)]
        if not images:
            return []
        arrays = np.stack([self._framed(im) if reframe else to_face_array(im) for im in images])
        probs = self.probabilities(arrays)
        flat = (arrays.max(axis=(1, 2)).astype(int) - arrays.min(axis=(1, 2))) < FLAT_RANGE
        probs[flat] = 1.0 / len(self.classes)
        faces = self.faces_from([Detection((0, 0, im.shape[1], im.shape[0]), 1.0) for im in images], probs)
        for i in np.flatnonzero(flat):
            faces[i] = replace(faces[i], label=UNCERTAIN)
        return faces

    def _framed(self, rgb: np.ndarray) -> np.ndarray:
        """The largest face found in a crop, framed as FER-2013 faces are; the crop itself when none."""
        try:
            found = self.find_faces(rgb, where="face crop")
        except FerlabError:  # too small or elongated to search: take it as it is
            found = []
        if not found:
            return to_face_array(rgb)
        return max(found, key=lambda f: f.detection.box[2] * f.detection.box[3]).crop

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

    # -- the stages: preprocess (decode, detect, crop) → probabilities (a stack of crops) → postprocess
    # run_batch chains them for a list of images; the server puts its micro-batcher between the
    # first two (faces of concurrent requests in one model call), video its tracker between the
    # last two (probabilities smoothed per track).
    def preprocess(
        self,
        image: ImageLike | bytes,
        *,
        bgr: bool = False,
        name: str | None = None,
        allow_list: bool = False,
        max_pixels: int | None = None,
        decoding: AbstractContextManager | None = None,
    ) -> Staged:
        """Decode (large JPEGs reduced while decoding), find the faces and make their model inputs.
        `image`: anything `run` takes, or an image file's bytes (uploads, Ray). allow_list and
        max_pixels: the server's format allow-list and pixel cap for bytes; `decoding`: held while
        decoding (the server's cap on images decoded at once). Raises FerlabError for a bad image."""
        where = name or _where(image)
        with decoding or nullcontext():
            if isinstance(image, bytes | bytearray | memoryview):
                rgb, scale = open_image_bytes(
                    bytes(image),
                    where,
                    allow_list=allow_list,
                    min_side=self.decode_side,
                    searchable=True,
                    **({} if max_pixels is None else {"max_pixels": max_pixels}),
                )
            else:
                rgb, scale = open_image(image, bgr=bgr, min_side=self.decode_side, searchable=True)
        found = self.find_faces(rgb, where=where, max_faces=self.options.max_faces)
        return Staged(where, rgb, scale, found)

    def postprocess(self, staged: Staged, probs: np.ndarray, *, min_confidence: float | None = None) -> ImageResult:
        """The staged image's faces, labelled from their probabilities, in the source's pixels."""
        h, w = staged.rgb.shape[:2]
        faces = self.faces_from([f.detection for f in staged.found], probs, min_confidence=min_confidence)
        return ImageResult(
            staged.source,
            "ok" if faces else "no_face",
            [f.scaled(1 / staged.scale) for f in faces],
            size=(round(w / staged.scale), round(h / staged.scale)),
            decoded_size=(w, h),
            scale=staged.scale,
            dropped=staged.found.dropped,
        )

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
        staged: list[Staged | ImageResult] = []
        for im, name in zip(images, names or [None] * len(images), strict=True):
            try:
                staged.append(self.preprocess(im, bgr=bgr, name=name))
            except FerlabError as e:
                staged.append(ImageResult(name or _where(im), "error", [], error=str(e)))
        ok = [s for s in staged if isinstance(s, Staged)]
        probs = self.probabilities(np.stack([c for s in ok for c in s.crops])) if any(s.found for s in ok) else None
        out, i = [], 0
        for s in staged:
            if isinstance(s, ImageResult):  # failed in the first stage
                out.append(s)
                continue
            n = len(s.found)
            res = self.postprocess(s, probs[i : i + n] if n else np.zeros((0, len(self.classes))))
            res.pixels = s.rgb if keep_pixels else None
            out.append(res)
            i += n
        return out

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


def _check_classes(card: dict, want: int | None) -> None:
    """A model asked for another number of classes than it gives: one line naming the one that does."""
    have = card["classes"]
    if want is not None and len(have) != want:
        raise FerlabError(
            f"{card['name']}: gives {len(have)} classes ({', '.join(have)}), not the {want} asked for; "
            f"--classes {want} without --model uses {default_model(want)}"
        )


def _torch_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _where(image) -> str:
    return str(image) if isinstance(image, str | os.PathLike) else "image"
