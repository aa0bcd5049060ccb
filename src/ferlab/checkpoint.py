"""The checkpoint format: safetensors weights with the model card inside, plus card.json beside.

The weights file alone runs (its card says the architecture, classes and preprocessing), is
replaced atomically and loading never unpickles. Measurements made later (stability, timings, a
re-quantised int8 copy's accuracy) update card.json only (`ferlab.card`: which keys, and how a
record is matched to its weights). Cards and model references (torch-free) live in `ferlab.card`;
this module adds what needs torch: saving a trained network and rebuilding one from its card.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ferlab.card import WEIGHTS_FILE, read_card
from ferlab.errors import FerlabError
from ferlab.io import atomic_write, atomic_write_json


def save_checkpoint(model: nn.Module, card: dict, out_dir: str | os.PathLike) -> Path:
    """Write out_dir/model.safetensors (card inside) and out_dir/card.json, each atomically. A card
    with a `base` model stores only the tensors that differ from the base's."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if card.get("base"):
        shared = _base_state(card["base"])
        state = {k: v for k, v in state.items() if k not in shared or not torch.equal(v, shared[k])}
    meta = {"ferlab_card": json.dumps(card)}
    atomic_write(out / WEIGHTS_FILE, lambda tmp: save_file(state, tmp, metadata=meta))
    atomic_write_json(out / "card.json", card)
    return out / WEIGHTS_FILE


def load_model(ref: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild the network from the card and load its weights. Returns (model in eval mode, card)."""
    from ferlab.models import build

    card = read_card(ref)
    model = build(card["architecture"], **card.get("arch_config", {}))
    state = load_file(card["_path"], device=str(device))
    if card.get("base"):
        state = {**_base_state(card["base"], device), **state}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise FerlabError(
            f"{card['_path']}: weights do not match architecture {card['architecture']!r} "
            f"(missing {len(missing)}, unexpected {len(unexpected)} tensors)"
        )
    return model.to(device).eval(), card


def _base_state(base: str, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    card = read_card(base)
    if card.get("base"):
        raise FerlabError(f"{card['_path']}: a base model cannot itself have a base ({card['base']})")
    return load_file(card["_path"], device=str(device))


def onnx_session(card: dict, model: nn.Module | None = None, **run_on):
    """The cached ONNX export of the checkpoint behind `card` as an onnxruntime session, made on
    first use (that once, torch loads the model); later runs need no torch."""
    import tempfile

    from ferlab.runtime.onnx import OnnxSession, export_cache_path, export_onnx

    out = export_cache_path(card)
    if not out.exists():
        if model is None:
            model, _ = load_model(card["_path"])
        try:
            export_onnx(model, card, out)
        except OSError:  # unwritable cache: export to a temp dir instead
            out = Path(tempfile.mkdtemp()) / out.name
            export_onnx(model, card, out)
    return OnnxSession(out, **run_on)
