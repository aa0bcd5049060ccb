"""What `ferlab models` lists: the registered architectures and the bundled models, as data."""

from __future__ import annotations

from ferlab.card import DEFAULT_MODEL, bundled_models, read_card, shipped_accuracy
from ferlab.models.registry import available, build, count_parameters


def catalogue() -> dict:
    """{"architectures": [...], "bundled": [...]}; bundled accuracy is as shipped (with its TTA)."""
    archs = [
        {
            "name": e.name,
            "parameters": None if e.params_note else count_parameters(build(e.name)),
            "parameters_note": e.params_note,
            "description": e.description,
            "defaults": e.defaults(),
        }
        for e in available()
    ]
    bundled = []
    for name in bundled_models():
        card = read_card(name)
        acc, mode = shipped_accuracy(card)
        bundled.append(
            {
                "name": name,
                "architecture": card["architecture"],
                "parameters": card.get("parameters"),
                "val_accuracy": acc,
                "tta": mode,
                "val_accuracy_one_pass": card.get("metrics", {}).get("val_accuracy"),
                "default": name == DEFAULT_MODEL,
            }
        )
    return {"architectures": archs, "bundled": bundled}
