"""Offline distillation targets: the teachers' softened outputs on the clean training images.

Running the teachers on every augmented batch (online distillation) costs one teacher forward
pass per image per epoch and teacher — on a 2-core CPU, three VGG teachers double an epoch.
Offline, each teacher sees each training image once; the mean of their temperature-softened
probabilities is cached on disk (keyed by the teachers' weights, the temperature and the image
bytes) and served with each batch. The student then learns an augmented view against the
teachers' reading of the clean image, as in Born-Again Networks (Furlanello et al. 2018).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from ferlab.card import resolve
from ferlab.io import atomic_write
from ferlab.preprocess import to_model_input


def _file_digest(path: Path) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.digest()


def targets_key(refs: list, temperature: float, images: torch.Tensor, mean: float, std: float) -> str:
    h = hashlib.sha256()
    for ref in refs:
        h.update(_file_digest(resolve(ref)))
    h.update(repr((float(temperature), float(mean), float(std))).encode())
    h.update(images.contiguous().numpy().tobytes())
    return h.hexdigest()[:32]


@torch.inference_mode()
def compute_soft_targets(
    teachers: list[torch.nn.Module],
    images: torch.Tensor,
    temperature: float,
    *,
    mean: float,
    std: float,
    batch_size: int = 256,
    progress: bool = True,
) -> torch.Tensor:
    """uint8 (N,48,48) → (N, classes) float32: the teachers' mean softmax(logits / T)."""
    out = []
    for start in tqdm(range(0, len(images), batch_size), desc="teacher targets", disable=not progress, unit="batch"):
        x = to_model_input(images[start : start + batch_size], mean, std).contiguous(memory_format=torch.channels_last)
        probs = [(t(x).float() / temperature).softmax(1) for t in teachers]
        out.append(torch.stack(probs).mean(0))
    return torch.cat(out)


def cached_soft_targets(
    refs: list,
    teachers: list[torch.nn.Module],
    images: torch.Tensor,
    temperature: float,
    *,
    mean: float,
    std: float,
    cache: Path,
    progress: bool = True,
) -> tuple[torch.Tensor, bool]:
    """(targets, hit): read from `cache` when the same teachers already read the same images."""
    file = cache / f"soft_targets_{targets_key(refs, temperature, images, mean, std)}.safetensors"
    if file.exists():
        return load_file(str(file))["targets"], True
    targets = compute_soft_targets(teachers, images, temperature, mean=mean, std=std, progress=progress)
    cache.mkdir(parents=True, exist_ok=True)
    atomic_write(file, lambda tmp: save_file({"targets": targets.contiguous()}, tmp))
    return targets, False
