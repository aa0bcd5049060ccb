"""Workflow: a soft-voting ensemble made from trained checkpoints (optionally with weights fitted
on val), above the layers it uses — checkpoints, data and the `Ensemble` network — so that none
of them imports it back."""

from __future__ import annotations

import torch
from torch import nn

from ferlab.card import make_card
from ferlab.checkpoint import load_model
from ferlab.errors import FerlabError
from ferlab.models.ensemble import Ensemble, fit_weights
from ferlab.models.registry import count_parameters


def build_ensemble(refs: list[str], *, data: str | None = None, fit: bool = False) -> tuple[nn.Module, dict]:
    """Load member checkpoints, optionally fit weights on val, return (model, card)."""
    if len(refs) < 2:
        raise FerlabError("an ensemble needs at least two models")
    specs, nets = [], []
    for r in refs:
        m, card = load_model(r)
        if card["architecture"] == "ensemble":
            raise FerlabError(f"{r}: is itself an ensemble; list its members instead")
        specs.append(
            {
                "name": card["name"],
                "source": str(r),
                "architecture": card["architecture"],
                "arch_config": card.get("arch_config", {}),
                "mean": card["input"]["mean"],
                "std": card["input"]["std"],
                "val_accuracy": card.get("metrics", {}).get("val_accuracy"),
            }
        )
        nets.append(m)
    weights = None
    fitted_on = None
    if fit:
        if not data:
            raise FerlabError("fitting ensemble weights needs --data (its val split)")
        from ferlab.data import load_fer2013
        from ferlab.preprocess import to_model_input

        val = load_fer2013(data).split("val")
        tmp = Ensemble(specs)
        for dst, src in zip(tmp.members, nets, strict=True):
            dst.load_state_dict(src.state_dict())
        tmp.eval()
        with torch.inference_mode():
            probs = torch.cat([tmp.member_probs(to_model_input(b)) for b in torch.split(val.images, 512)], dim=1)
        weights = fit_weights(probs.clone(), val.labels)
        fitted_on = f"{data} val (PublicTest)"
    ens = Ensemble(specs, weights)
    for dst, src in zip(ens.members, nets, strict=True):
        dst.load_state_dict(src.state_dict())
    ens.eval()
    card = make_card(
        "ensemble",
        ens.card_config(),
        mean=0.5,
        std=0.25,
        params=count_parameters(ens),
        name="ensemble-" + "+".join(s["name"] for s in specs),
        training={
            "members": [s["source"] for s in specs],
            "weights": "fitted on " + fitted_on if fitted_on else "equal",
            "selection_split": fitted_on or "none (equal weights)",
        },
    )
    return ens, card
