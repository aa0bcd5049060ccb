"""The checkpoint format: safetensors weights with the model card inside, plus card.json beside.

A checkpoint is `model.safetensors` whose metadata key "ferlab_card" holds the JSON card
(architecture and config, class names, input size, normalisation, training data, selection
split, metrics, date, command). One file means weights and card can never disagree, and it is
replaced atomically. `card.json` is the same card for people to read. Loading never unpickles.

A model reference is a path to a .safetensors file, a folder holding model.safetensors, or the
name of a model bundled in `ferlab/weights/`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import sys
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

from ferlab.errors import FerlabError
from ferlab.io import atomic_write, atomic_write_json
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
    **extra,
) -> dict:
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
        "command": shlex.join(["ferlab", *sys.argv[1:]]),
        **extra,
    }


def save_checkpoint(model: nn.Module, card: dict, out_dir: str | os.PathLike) -> Path:
    """Write out_dir/model.safetensors (card inside) and out_dir/card.json, each atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {"ferlab_card": json.dumps(card)}
    atomic_write(out / WEIGHTS_FILE, lambda tmp: save_file(state, tmp, metadata=meta))
    atomic_write_json(out / "card.json", card)
    return out / WEIGHTS_FILE


def bundled_models() -> list[str]:
    return sorted(p.stem for p in BUNDLED_DIR.glob("*.safetensors"))


def resolve(ref: str | os.PathLike | None) -> Path:
    """Model reference → the .safetensors file. None means the bundled default."""
    if ref is None:
        ref = DEFAULT_MODEL
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
    bundled = BUNDLED_DIR / f"{ref}.safetensors"
    if isinstance(ref, str) and "/" not in ref and bundled.exists():
        return bundled
    raise FerlabError(
        f"model {str(ref)!r} not found: not a checkpoint file or folder, and not a bundled model "
        f"(bundled: {', '.join(bundled_models()) or 'none'})"
    )


def read_card(ref: str | os.PathLike | None) -> dict:
    f = resolve(ref)
    try:
        with safe_open(str(f), framework="pt") as sf:
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


def load_model(ref: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild the network from the card and load its weights. Returns (model in eval mode, card)."""
    from ferlab.models import build

    card = read_card(ref)
    model = build(card["architecture"], **card.get("arch_config", {}))
    state = load_file(card["_path"], device=str(device))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise FerlabError(
            f"{card['_path']}: weights do not match architecture {card['architecture']!r} "
            f"(missing {len(missing)}, unexpected {len(unexpected)} tensors)"
        )
    return model.to(device).eval(), card
