"""Model cards and model references, without torch: what a checkpoint is and says.

A checkpoint is `model.safetensors` whose metadata key "ferlab_card" holds the JSON card
(architecture and config, class names, input size, normalisation, training data, selection
split, metrics, date, command), with `card.json` beside it for people. Reading a card needs
only the safetensors header, so the onnxruntime path and `ferlab models` never import torch.

A model reference is either the name of a model bundled in `ferlab/weights/` or a path. A name
never touches the file system beyond the package (a folder called `fer-vgg-wide` in the working
directory does not replace the bundled model); a path must look like one: it contains a
separator, starts with `.` or `~`, or ends in `.safetensors`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
from pathlib import Path

from ferlab.errors import FerlabError
from ferlab.labels import CLASSES

CARD_FORMAT = "ferlab-card/1"
WEIGHTS_FILE = "model.safetensors"
BUNDLED_DIR = Path(__file__).parent / "weights"
DEFAULT_MODEL = "fer-vgg-wide"  # most accurate bundled model under 5M parameters; see docs/accuracy.md


def make_card(
    architecture: str,
    arch_config: dict,
    *,
    mean: float,
    std: float,
    params: int,
    training: dict | None = None,
    metrics: dict | None = None,
    name: str | None = None,
    command: list[str] | str | None = None,
    **extra,
) -> dict:
    """The card of a new checkpoint; `command` is what made it (argv list or string), as the caller knows it."""
    if isinstance(command, list | tuple):
        command = shlex.join(command)
    return {
        "format": CARD_FORMAT,
        "name": name or architecture,
        "architecture": architecture,
        "arch_config": arch_config,
        "classes": list(CLASSES),
        "input": {"size": 48, "channels": 1, "dtype": "uint8 grayscale", "mean": mean, "std": std},
        "parameters": params,
        "training": training or {},
        "metrics": metrics or {},
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": command or "",
        **extra,
    }


def bundled_models() -> list[str]:
    return sorted(p.stem for p in BUNDLED_DIR.glob("*.safetensors"))


def user_models() -> list[str]:
    """Models the user bundled (`ferlab bundle`, into ferlab.paths.user_models_dir)."""
    from ferlab.paths import user_models_dir

    d = user_models_dir()
    return sorted(p.stem for p in d.glob("*.safetensors")) if d.is_dir() else []


def looks_like_path(ref: str | os.PathLike) -> bool:
    if not isinstance(ref, str):
        return True  # a Path object is a path
    return (
        any(sep in ref for sep in ("/", os.sep))
        or ref.startswith((".", "~"))
        or ref.endswith((".safetensors", ".onnx"))
    )


def resolve(ref: str | os.PathLike | None) -> Path:
    """Model reference → the .safetensors file. None means the bundled default."""
    if ref is None:
        ref = DEFAULT_MODEL
    if not isinstance(ref, str | os.PathLike):
        raise FerlabError(f"model reference must be a bundled name or a path, not {type(ref).__name__}")
    if not looks_like_path(ref):
        from ferlab.paths import user_models_dir

        bundled = BUNDLED_DIR / f"{ref}.safetensors"
        if bundled.exists():
            return bundled
        mine = user_models_dir() / f"{ref}.safetensors"
        if mine.exists():
            return mine
        raise FerlabError(
            f"model {ref[:80]!r} is not a bundled model (bundled: {', '.join(bundled_models() + user_models())}); "
            f"for a checkpoint give a path such as ./{ref[:40]} or runs/{ref[:40]}"
        )
    p = Path(ref).expanduser()
    if p.is_dir():
        f = p / WEIGHTS_FILE
        if not f.exists():
            best = p / "best" / WEIGHTS_FILE  # a run directory: use its best checkpoint
            if best.exists():
                return best
            raise FerlabError(f"{p}: folder has no {WEIGHTS_FILE} (nor best/{WEIGHTS_FILE})")
        return f
    if p.is_file():
        return p
    raise FerlabError(
        f"model {str(ref)[:200]!r} not found: no such checkpoint file or folder "
        f"(bundled names: {', '.join(bundled_models()) or 'none'})"
    )


def read_onnx_card(f: Path) -> dict:
    """The card of an ONNX file ferlab exported (`ferlab export`, or a bundled .int8.onnx): it
    runs with onnxruntime as it is, no checkpoint needed."""
    try:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        meta = ort.InferenceSession(str(f), opts, providers=["CPUExecutionProvider"]).get_modelmeta()
    except Exception as e:  # onnxruntime raises its own types for a file that is not ONNX
        raise FerlabError(f"{f}: not a readable ONNX model ({str(e).strip()[:120]})") from None
    if "ferlab_card" not in meta.custom_metadata_map:
        raise FerlabError(
            f"{f}: an ONNX model without a ferlab card (not exported by `ferlab export`): ferlab needs its "
            "classes and preprocessing; pass the checkpoint it came from instead"
        )
    card = json.loads(meta.custom_metadata_map["ferlab_card"])
    card["_path"] = card["_onnx"] = str(f)
    card["inference"] = {**card.get("inference", {}), "backend": "onnxruntime", "precision": "fp32"}
    card["inference"].pop("onnx_int8", None)
    return card


def read_card(ref: str | os.PathLike | None) -> dict:
    from safetensors import SafetensorError, safe_open

    f = resolve(ref)
    if f.suffix.lower() == ".onnx":
        return read_onnx_card(f)
    try:
        with safe_open(str(f), framework="numpy") as sf:
            meta = sf.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise FerlabError(f"{f}: not a readable safetensors checkpoint ({e})") from None
    if "ferlab_card" not in meta:
        raise FerlabError(f"{f}: safetensors file carries no ferlab card (not saved by ferlab)")
    card = json.loads(meta["ferlab_card"])
    if card.get("format") != CARD_FORMAT:
        raise FerlabError(f"{f}: card format {card.get('format')!r} is not {CARD_FORMAT}")
    card["_path"] = str(f)
    return card


def shipped_tta(card: dict) -> str:
    """The test-time augmentation a model ships with: the card's `inference.tta` (its one home;
    cards written before it also said it as `metrics.tta_default`)."""
    mode = card.get("inference", {}).get("tta") or card.get("metrics", {}).get("tta_default")
    return mode if isinstance(mode, str) else "none"


def shipped_accuracy(card: dict) -> tuple[float | None, str]:
    """The val accuracy of the model as it ships (with its default test-time augmentation), and that mode."""
    m = card.get("metrics", {})
    mode = shipped_tta(card)
    if "val_accuracy_default" in m:  # measured through the shipped configuration itself
        return m["val_accuracy_default"], mode
    by_mode = m.get("val_accuracy_by_tta") or {}
    return by_mode.get(mode, m.get("val_accuracy")), mode
