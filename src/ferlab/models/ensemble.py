"""Soft-voting ensembles of trained models (the study's proposed CNN+ViT hybrid).

An ensemble checkpoint is self-contained: its card lists each member's architecture, config
and normalisation, and its safetensors file holds every member's weights (under
`members.<i>.`), so it loads, evaluates, exports and serves like any single model.
Its output is the log of the weighted mean of the members' probabilities, so softmax of
the output is exactly the soft vote.
"""

from __future__ import annotations

import torch
from torch import nn

from ferlab.models.registry import build, register


class Ensemble(nn.Module):
    def __init__(
        self, members: list[dict], weights: list[float] | None = None, mean: float = 0.5, std: float = 0.25
    ) -> None:
        super().__init__()
        self.specs = members
        self.members = nn.ModuleList(build(m["architecture"], **m.get("arch_config", {})) for m in members)
        w = torch.tensor(weights if weights is not None else [1.0] * len(members), dtype=torch.float32)
        self.register_buffer("weights", w / w.sum())
        self.mean, self.std = mean, std

    def member_probs(self, x: torch.Tensor) -> torch.Tensor:
        """(M, N, 7) probabilities of each member, each fed in its own normalisation."""
        raw = x * self.std + self.mean
        out = []
        for spec, m in zip(self.specs, self.members, strict=True):
            xm = (raw - spec["mean"]) / spec["std"]
            out.append(m(xm).float().softmax(1))
        return torch.stack(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = torch.einsum("m,mnc->nc", self.weights, self.member_probs(x))
        return p.clamp_min(1e-12).log()

    def card_config(self) -> dict:
        return {"members": self.specs, "weights": self.weights.tolist(), "mean": self.mean, "std": self.std}


@register(
    "ensemble",
    "Soft vote over trained models (CNN + ViT), equal or val-fitted weights",
    params_note="sum of its members",
)
def ensemble(
    members: list[dict] | None = None, weights: list[float] | None = None, mean: float = 0.5, std: float = 0.25
) -> nn.Module:
    return Ensemble(members or [], weights, mean, std)


def fit_weights(member_probs: torch.Tensor, labels: torch.Tensor, steps: int = 300) -> list[float]:
    """Weights (on the simplex) minimising the soft vote's NLL on held-out data. (M, N, 7) → M floats."""
    logits = torch.zeros(member_probs.shape[0], requires_grad=True)
    opt = torch.optim.Adam([logits], lr=0.05)
    for _ in range(steps):
        opt.zero_grad()
        p = torch.einsum("m,mnc->nc", logits.softmax(0), member_probs)
        loss = nn.functional.nll_loss(p.clamp_min(1e-12).log(), labels)
        loss.backward()
        opt.step()
    return logits.detach().softmax(0).tolist()
