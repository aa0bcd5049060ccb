"""The recognition flags predict, video, explain, evaluate and serve share, and the one function
that turns them into a `RecognizerOptions` (where every default and range check lives).

Detector names and presets come from the detector registry (importing it loads OpenCV, never
onnxruntime); test-time augmentation modes and their pass counts from `ferlab.tta`."""

from __future__ import annotations

import argparse
import os

from ferlab.cli.common import HELP_MODEL, probability, whole
from ferlab.options import PRIORS, DetectorOptions, RecognizerOptions
from ferlab.tta import PASSES


def add_recognizer_args(p: argparse.ArgumentParser, *, mode: str = "photo", model: bool = True) -> None:
    """The flags every recognition command shares (video: the video presets as defaults)."""
    from ferlab.detectors import DEFAULT_DETECTOR, detector_names, detector_spec

    if model:
        p.add_argument("--model", default=None, help=HELP_MODEL)
    p.add_argument(
        "--tta",
        default=None,
        choices=tuple(PASSES),
        metavar="MODE",
        help="test-time augmentation: "
        + ", ".join(f"{m} ({n} pass{'es' if n > 1 else ''})" for m, n in PASSES.items())
        + ("; --tta alone means flip; default: what the model's card names" if mode == "photo" else "; default none"),
    )
    p.add_argument(
        "--backend", choices=["torch", "onnxruntime"], help="inference engine (default: what the model's card ships)"
    )
    p.add_argument(
        "--precision",
        choices=["fp32", "int8"],
        help="onnxruntime weights: fp32 or int8 (default: what the model's card ships)",
    )
    p.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda"],
        help="where the model runs: auto (default: a GPU where onnxruntime's CUDA provider or torch can use one, "
        "else the CPU), cpu, cuda",
    )
    p.add_argument(
        "--min-confidence",
        type=probability,
        default=0.0,
        metavar="P",
        help="label a face 'uncertain' when its most likely class has probability below P (calibrated)",
    )
    p.add_argument("--max-faces", type=whole(1), metavar="N", help="classify only the N largest faces of an image")
    p.add_argument(
        "--detector",
        default=DEFAULT_DETECTOR,
        choices=detector_names(),
        help=f"face detector (default: {DEFAULT_DETECTOR}, shipped; yunet: weights from --detector-weights, "
        "$FERLAB_YUNET or the cache dir, else downloaded once and checked)",
    )
    p.add_argument("--detector-weights", metavar="PATH", help="the detector's weights file (YuNet)")
    side = detector_spec(DEFAULT_DETECTOR).presets[mode]["search_side"]
    p.add_argument(
        "--search-side",
        type=whole(32),
        default=None,
        metavar="PX",
        help=f"search {'photos' if mode == 'photo' else 'frames'} for faces with their longer side scaled down to "
        f"PX (default {side} for {DEFAULT_DETECTOR}); smaller is faster and misses more small faces "
        "(docs/benchmarks.md)",
    )
    p.add_argument(
        "--min-face",
        type=whole(1),
        default=DetectorOptions().min_face,
        metavar="PX",
        help="smallest face side in pixels (default %(default)s)",
    )
    p.add_argument(
        "--no-align", action="store_true", help="square crop around the box instead of turning the face upright"
    )
    p.add_argument(
        "--prior",
        default="none",
        choices=PRIORS,
        help="the class prior faces are labelled under: none (the training set's: FER+ is 37%% neutral), uniform "
        "(every emotion equally likely; per face), collection (estimated from all the faces of the run by EM: "
        "for a folder or a dataset, not one photo); docs/accuracy.md measures each",
    )
    p.add_argument(
        "--classes",
        type=int,
        choices=(7, 8),
        help="7 (FER-2013's emotions) or 8 (FER+'s, with contempt): without --model, the bundled model for that many "
        "(fer-vgg-wide-ferplus, fer-vgg-wide-ferplus8); with --model, a check that it gives that many",
    )
    p.set_defaults(_mode=mode)


def options_from_args(args: argparse.Namespace) -> RecognizerOptions:
    """The RecognizerOptions a command line asked for."""
    model = getattr(args, "model", None)
    return RecognizerOptions(
        model=model if isinstance(model, str | None) else None,
        mode=getattr(args, "_mode", "photo"),
        detector=DetectorOptions(
            name=args.detector,
            weights=args.detector_weights,
            search_side=args.search_side,
            min_face=args.min_face,
        ),
        align=not args.no_align,
        tta=args.tta,
        backend=args.backend,
        precision=args.precision,
        min_confidence=args.min_confidence,
        max_faces=args.max_faces,
        device=args.device,
        prior=args.prior,
        classes=args.classes,
    )


def recognizer(args: argparse.Namespace, **changes):
    """The Recognizer a command line asked for (every setting checked before any image is read)."""
    from ferlab.inference.recognizer import Recognizer

    return Recognizer(options=options_from_args(args).replace(**changes))


def bare_tta(argv: list[str]) -> list[str]:
    """`--tta` alone means flip, and never takes the next word unless it names a mode
    (`ferlab predict --tta photo.jpg` predicts photo.jpg with flip TTA)."""

    def takes_no_mode(nxt: str | None) -> bool:
        # a path (or another flag) follows: --tta stands alone; an unknown word is left to argparse
        return nxt is None or nxt.startswith("-") or os.path.exists(nxt) or any(c in nxt for c in "/.*")

    out: list[str] = []
    for i, a in enumerate(argv):
        out.append(a)
        if a == "--tta" and takes_no_mode(argv[i + 1] if i + 1 < len(argv) else None):
            out.append("flip")
    return out
