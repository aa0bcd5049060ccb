"""The command line's recognition options: one set of flags for predict, video, explain,
evaluate and serve, and the one function that turns them into a `RecognizerOptions` (where
every default and range check lives). Imports nothing heavy: `ferlab --help` stays fast."""

from __future__ import annotations

import argparse

from ferlab.options import TTA_CHOICES, DetectorOptions, RecognizerOptions

TTA_PASSES = {"none": 1, "flip": 2, "zoomflip": 2, "multi": 12}  # ferlab.tta.PASSES, without importing it
DETECTOR_NAMES = ("centerface", "yunet", "haar")  # ferlab.detectors' registry (a test keeps them equal)


def _probability(value: str) -> float:
    try:
        p = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a probability, got {value!r}") from None
    if not 0.0 <= p <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return p


def whole(least: int):
    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
        if n < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}, got {n}")
        return n

    return parse


def add_recognizer_args(p: argparse.ArgumentParser, *, mode: str = "photo", model: bool = True) -> None:
    """The flags every recognition command shares (video: the video presets as defaults)."""
    if model:
        p.add_argument(
            "--model",
            default=None,
            help="bundled model name (see `ferlab models`) or a path: checkpoint, checkpoint folder or run dir "
            "(default: the bundled default)",
        )
    p.add_argument(
        "--tta",
        default=None,
        choices=TTA_CHOICES,
        metavar="MODE",
        help="test-time augmentation: "
        + ", ".join(f"{m} ({n} pass{'es' if n > 1 else ''})" for m, n in TTA_PASSES.items())
        + ("; --tta alone means flip; default: what the model's card names" if mode == "photo" else "; default none"),
    )
    p.add_argument(
        "--backend", choices=["torch", "onnxruntime"], help="inference engine (default: what the model's card ships)"
    )
    p.add_argument(
        "--precision", choices=["fp32", "int8"], help="onnxruntime weights (default: what the model's card ships)"
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
        type=_probability,
        default=0.0,
        metavar="P",
        help="label a face 'uncertain' when its most likely class has probability below P (calibrated)",
    )
    p.add_argument("--max-faces", type=whole(1), metavar="N", help="classify only the N largest faces of an image")
    p.add_argument(
        "--detector",
        default="centerface",
        choices=DETECTOR_NAMES,
        help="face detector (default: centerface, shipped; yunet: weights from --detector-weights, "
        "$FERLAB_YUNET or the cache dir, else downloaded once and checked)",
    )
    p.add_argument("--detector-weights", metavar="PATH", help="the detector's weights file (YuNet)")
    side = 640 if mode == "photo" else 320
    p.add_argument(
        "--search-side",
        type=whole(32),
        default=None,
        metavar="PX",
        help=f"search {'photos' if mode == 'photo' else 'frames'} for faces with their longer side scaled down to "
        f"PX (default {side} for CenterFace); smaller is faster and misses more small faces (docs/benchmarks.md)",
    )
    p.add_argument("--min-face", type=whole(1), default=16, metavar="PX", help="smallest face side in pixels")
    p.add_argument(
        "--no-align", action="store_true", help="square crop around the box instead of turning the face upright"
    )
    p.set_defaults(_mode=mode)


def options_from_args(args: argparse.Namespace) -> RecognizerOptions:
    """The RecognizerOptions a command line asked for."""
    return RecognizerOptions(
        model=getattr(args, "model", None) if isinstance(getattr(args, "model", None), str | None) else None,
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
    )


def bare_tta(argv: list[str]) -> list[str]:
    """`--tta` alone means flip, and never takes the next word unless it names a mode
    (`ferlab predict --tta photo.jpg` predicts photo.jpg with flip TTA)."""
    import os

    def takes_no_mode(nxt: str | None) -> bool:
        # a path (or another flag) follows: --tta stands alone; an unknown word is left to argparse
        return nxt is None or nxt.startswith("-") or os.path.exists(nxt) or any(c in nxt for c in "/.*")

    out: list[str] = []
    for i, a in enumerate(argv):
        out.append(a)
        if a == "--tta" and takes_no_mode(argv[i + 1] if i + 1 < len(argv) else None):
            out.append("flip")
    return out
