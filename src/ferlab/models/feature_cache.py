"""Cache the output of a pretrained backbone's frozen bottom blocks on disk.

With the first `start` blocks frozen (and no augmentation), their output for each image never
changes, so it is computed once and training runs only the top blocks and the head — on CPU,
the difference between hours and minutes per epoch. The key holds the backbone (name, config
and a digest of its weights), the input resolution, the block index and a digest of the image
bytes; any change gives a new key, and so a recomputation. A mirror-image view is cached as a
second set of images (its bytes differ, so does its key): the one augmentation a cache allows.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from ferlab.errors import FerlabError
from ferlab.io import atomic_write
from ferlab.preprocess import to_model_input


def cache_key(model, images: torch.Tensor, start: int) -> str:
    h = hashlib.sha256()
    cfg = model.card_config()
    h.update(
        json.dumps(
            {
                "backbone": cfg["backbone"],
                "config": cfg["backbone_config"],
                "size": model.image_size,
                "start": start,
                "mean": cfg["mean"],
                "std": cfg["std"],
            },
            sort_keys=True,
        ).encode()
    )
    for p in list(model.backbone.parameters())[:4]:  # enough to tell different weights apart cheaply
        h.update(p.detach().float().cpu().numpy().tobytes()[: 1 << 16])
    h.update(images.contiguous().numpy().tobytes())
    return h.hexdigest()[:32]


@torch.no_grad()  # not inference_mode: the result feeds training, which autograd tracks
def compute_hidden(
    model,
    images: torch.Tensor,
    start: int,
    *,
    batch_size: int = 64,
    mean: float = 0.5,
    std: float = 0.25,
    progress: bool = True,
) -> torch.Tensor:
    """uint8 (N,48,48) → hidden states after `start` blocks (N,T,D) fp16, or pooled (N,F) fp32 at the top."""
    was_training = model.training
    model.eval()
    depth = len(model.blocks)
    out = []
    for i in tqdm(
        range(0, len(images), batch_size), desc=f"caching backbone blocks 0-{start}", disable=not progress, unit="batch"
    ):
        x = to_model_input(images[i : i + batch_size], mean, std)
        h = model.run_blocks(model.embed(x), 0, start)
        out.append(model.pooled(h).float() if start >= depth else h.half())
    model.train(was_training)  # Lightning keeps modules' modes: a head left in eval would train without dropout
    return torch.cat(out)


def cache_file(model, images: torch.Tensor, start: int, cache_dir: str | os.PathLike) -> Path:
    return Path(cache_dir) / f"{cache_key(model, images, start)}.safetensors"


@torch.no_grad()
def bytes_per_image(model, start: int) -> int:
    """What one image's cached features take on disk: fp16 tokens, or fp32 pooled features at the top."""
    was_training = model.training
    model.eval()
    h = model.run_blocks(model.embed(torch.zeros(1, 1, 48, 48)), 0, start)
    model.train(was_training)
    return model.pooled(h).numel() * 4 if start >= len(model.blocks) else h.numel() * 2


def check_space(cache_dir: str | os.PathLike, need: int) -> None:
    """Refuse, before any work, a cache that cannot fit: one line with the size it needs."""
    root = Path(cache_dir)
    root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(root).free
    if need > free:
        raise FerlabError(
            f"{root}: the feature cache needs {_size(need)} and the disk has {_size(free)} free "
            "(free space, or set FERLAB_CACHE to a folder on a larger disk)"
        )


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def cached_hidden(
    model, images: torch.Tensor, start: int, cache_dir: str | os.PathLike, **kw
) -> tuple[torch.Tensor, float | None]:
    """(features, seconds): read from the cache when the key matches (seconds None), else
    compute, store, and say how long computing took."""
    f = cache_file(model, images, start, cache_dir)
    if f.exists():
        try:
            return load_file(str(f))["hidden"], None
        except Exception:  # a damaged cache file is recomputed
            pass
    t0 = time.perf_counter()
    hidden = compute_hidden(model, images, start, **kw)
    seconds = time.perf_counter() - t0
    print(
        f"feature cache: {len(images)} images through blocks 0-{start} in {seconds:.0f} s "
        f"({len(images) / max(seconds, 1e-9):.0f} img/s)",
        flush=True,
    )
    try:
        atomic_write(f, lambda tmp: save_file({"hidden": hidden.contiguous()}, tmp))
    except OSError:
        pass  # read-only cache: slower next time, not wrong
    return hidden, round(seconds, 1)
