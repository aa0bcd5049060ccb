"""Network outputs → probabilities: softmax of a torch model's logits, and temperature scaling
(Guo et al. 2017) of averaged probabilities (fitted in ferlab.evaluation.calibration)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def temper(probs: np.ndarray, temperature: float) -> np.ndarray:
    """p ∝ exp(log p / T), row-wise; T = 1 leaves probabilities as they are. Never changes the
    predicted class."""
    if temperature == 1.0:
        return probs
    z = np.log(np.clip(probs, 1e-12, 1.0)) / temperature
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(probs.dtype, copy=False)


def model_probs(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Class probabilities of a batch of model inputs (NHWC: the faster CPU kernels)."""
    import torch

    return model(x.contiguous(memory_format=torch.channels_last)).float().softmax(1)
