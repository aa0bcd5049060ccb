"""Accuracy, per-class accuracy, macro F1 and confusion (torchmetrics), with optional TTA."""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from ferlab.labels import CLASSES, NUM_CLASSES
from ferlab.preprocess import to_model_input
from ferlab.tta import averaged, tta_mode


def model_probs(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Class probabilities of a batch of model inputs (NHWC: the faster CPU kernels)."""
    return model(x.contiguous(memory_format=torch.channels_last)).float().softmax(1)


@torch.inference_mode()
def predict_probs(
    model: nn.Module,
    card: dict,
    images: torch.Tensor,
    *,
    tta: bool | str = False,
    batch_size: int = 512,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """uint8 (N,48,48) faces → (N,7) class probabilities, averaged over the TTA mode's views
    (ferlab.tta: False/"none", True/"flip", "multi")."""
    mean, std = card["input"]["mean"], card["input"]["std"]
    mode = tta_mode(tta)
    out = []
    for start in range(0, len(images), batch_size):
        x = to_model_input(images[start : start + batch_size], mean, std).to(device)
        out.append(averaged(partial(model_probs, model), x, mode).cpu())
    return torch.cat(out) if out else torch.zeros(0, NUM_CLASSES)


def compute_metrics(probs: torch.Tensor, labels: torch.Tensor) -> dict:
    # imported here: torchmetrics costs seconds at import, and predicting photos never needs it
    from torchmetrics.functional.classification import multiclass_confusion_matrix, multiclass_f1_score

    pred = probs.argmax(1)
    cm = multiclass_confusion_matrix(pred, labels, NUM_CLASSES)
    support = cm.sum(1)
    per_class = (cm.diag().float() / support.clamp(min=1).float()).tolist()
    nll = torch.nn.functional.nll_loss(probs.clamp_min(1e-12).log(), labels).item() if len(labels) else float("nan")
    return {
        "n": int(labels.numel()),
        "accuracy": float((pred == labels).float().mean()) if len(labels) else float("nan"),
        "per_class": dict(zip(CLASSES, per_class, strict=True)),
        "support": dict(zip(CLASSES, support.tolist(), strict=True)),
        "macro_f1": float(multiclass_f1_score(pred, labels, NUM_CLASSES, average="macro")),
        "loss": nll,
        "confusion": cm.tolist(),
        "confusion_normalized": (cm.float() / support.clamp(min=1)[:, None].float()).round(decimals=4).tolist(),
    }


def evaluate_model(
    model: nn.Module,
    card: dict,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    tta: bool | str = False,
    device: str = "cpu",
) -> dict:
    """The study's metrics (accuracy, per class, macro F1, NLL, confusion) of a torch network on
    uint8 (N,48,48) faces and their labels, with a test-time augmentation mode (ferlab.tta).
    For a model as users run it (backend, int8, calibration), see `ferlab.evaluation.evaluate`."""
    probs = predict_probs(model, card, images, tta=tta, device=device)
    return compute_metrics(probs, labels)
