"""The one image preprocessing, shared by training, evaluation and inference.

Everything a model sees goes through `to_model_input`: uint8 48×48 grayscale faces → float
tensors normalised with the mean/std that the checkpoint's card carries. Face crops from photos
are first reduced to uint8 48×48 by `ferlab.data.fer2013.decode_face` or the face detector.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where used: the onnxruntime path runs without it
    import torch

# FER-2013 training-set pixel statistics (mean 0.508, std 0.255 of x/255), rounded.
DEFAULT_MEAN = 0.5
DEFAULT_STD = 0.25


def to_model_input(images: torch.Tensor, mean: float = DEFAULT_MEAN, std: float = DEFAULT_STD) -> torch.Tensor:
    """uint8 (N,48,48) or (N,1,48,48) → float32 (N,1,48,48), (x/255 - mean) / std."""
    if images.dim() == 2:
        images = images[None]
    if images.dim() == 3:
        images = images[:, None]
    import torch

    x = images.float()
    if images.dtype == torch.uint8:
        x = x / 255.0
    return (x - mean) / std


def to_model_input_np(images: np.ndarray, mean: float = DEFAULT_MEAN, std: float = DEFAULT_STD) -> np.ndarray:
    """`to_model_input` for numpy (the onnxruntime path): uint8 (N,48,48) → float32 (N,1,48,48)."""
    x = np.asarray(images)
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 3:
        x = x[:, None]
    f = x.astype(np.float32)
    if x.dtype == np.uint8:
        f /= 255.0
    return ((f - np.float32(mean)) / np.float32(std)).astype(np.float32)
