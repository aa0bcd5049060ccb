"""Probabilities of a torch network on uint8 faces, with a test-time augmentation mode (ferlab.tta), and
the study's metrics of them (computed in numpy by ferlab.evaluation.scores)."""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from ferlab.labels import NUM_CLASSES
from ferlab.preprocess import to_model_input
from ferlab.runtime.probs import model_probs
from ferlab.tta import averaged, tta_mode


@torch.inference_mode()
def predict_probs(
    model: nn.Module,
    card: dict,
    images: torch.Tensor,
    *,
    tta: str | None = "none",
    batch_size: int = 512,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """uint8 (N,48,48) faces → (N,7) class probabilities, averaged over the TTA mode's views
    (ferlab.tta's modes)."""
    mean, std = card["input"]["mean"], card["input"]["std"]
    mode = tta_mode(tta)
    out = []
    for start in range(0, len(images), batch_size):
        x = to_model_input(images[start : start + batch_size], mean, std).to(device)
        out.append(averaged(partial(model_probs, model), x, mode).cpu())
    return torch.cat(out) if out else torch.zeros(0, NUM_CLASSES)


def compute_metrics(probs: torch.Tensor, labels: torch.Tensor) -> dict:
    """The study's metrics of torch probabilities and labels (ferlab.evaluation.scores: numpy, so
    that evaluating a shipped model needs no torch)."""
    from ferlab.evaluation.scores import scores

    return scores(probs.detach().cpu().numpy(), labels.cpu().numpy())


def evaluate_model(
    model: nn.Module,
    card: dict,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    tta: str | None = "none",
    device: str = "cpu",
) -> dict:
    """The study's metrics (accuracy, per class, macro F1, NLL, confusion) of a torch network on
    uint8 (N,48,48) faces and their labels, with a test-time augmentation mode (ferlab.tta).
    For a model as users run it (backend, int8, calibration), see `ferlab.evaluation.evaluate`."""
    probs = predict_probs(model, card, images, tta=tta, device=device)
    return compute_metrics(probs, labels)
