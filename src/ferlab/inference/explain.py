"""Which parts of a face drive a prediction: Grad-CAM, for CNNs and for ViTs.

Grad-CAM (Selvaraju et al., 2017) weights a layer's feature maps by the gradient of the chosen
class score. CNNs use the last convolution. ViTs use the tokens *entering* the last transformer
block: their patch tokens, laid back on their grid, are the feature maps (the usual ViT
adaptation of Grad-CAM, as pytorch-grad-cam's ViT recipe does with the last block's first norm).
The last block's *output* patch tokens would not do: a classifier that reads the CLS token never
uses them, so their gradient is zero and every map came out blank. Attention rollout needs
attention weights, which the fused attention kernels of current transformers do not return.
Written here in a few lines over forward hooks rather than
adding a dependency (pytorch-grad-cam pulls in torchvision, which this project cannot use).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ferlab.errors import FerlabError
from ferlab.preprocess import to_model_input


def last_conv(model: nn.Module) -> nn.Module:
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise FerlabError(f"{type(model).__name__}: Grad-CAM needs a convolutional layer; this model has none")
    return convs[-1]


def target_layer(model: nn.Module) -> tuple[nn.Module, str]:
    """(layer whose output is explained, 'conv' or 'tokens')."""
    from ferlab.models.ensemble import Ensemble
    from ferlab.models.vit import PretrainedViT, ScratchViT, transformer_blocks

    if isinstance(model, Ensemble):
        raise FerlabError("explain one member of an ensemble at a time (ferlab explain --model MEMBER)")
    if isinstance(model, PretrainedViT):
        return model.blocks[-1], "tokens"
    if isinstance(model, ScratchViT):
        return transformer_blocks(model.vit.vit)[-1], "tokens"
    return last_conv(model), "conv"


def _tokens_to_maps(t: torch.Tensor) -> torch.Tensor:
    """(N, 1 + P, D) block output → (N, D, g, g) over the patch grid (the CLS token dropped)."""
    patches = t[:, 1:]
    g = math.isqrt(patches.shape[1])
    patches = patches[:, -g * g :]  # register tokens, if any, sit before the patches
    return patches.transpose(1, 2).reshape(t.shape[0], t.shape[2], g, g)


def grad_cam(
    model: nn.Module, card: dict, faces: np.ndarray | torch.Tensor, target: list[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (N,48,48) faces → (maps (N,48,48) in [0,1], probabilities (N,7)).

    `target` picks the class explained per face; by default the predicted one.
    """
    layer, kind = target_layer(model)
    store: dict[str, torch.Tensor] = {}

    def hook(m, i, o):
        store["act"] = o[0] if isinstance(o, tuple) else o

    def pre_hook(m, args, kwargs):
        store["act"] = args[0] if args else kwargs["hidden_states"]

    if kind == "tokens":
        handle = layer.register_forward_pre_hook(pre_hook, with_kwargs=True)
    else:
        handle = layer.register_forward_hook(hook)
    try:
        x = to_model_input(
            torch.as_tensor(np.asarray(faces, dtype=np.uint8)), card["input"]["mean"], card["input"]["std"]
        ).requires_grad_(False)
        model.eval()
        with torch.enable_grad():
            logits = model(x)
            probs = logits.softmax(1)
            cls = torch.as_tensor(target) if target is not None else probs.argmax(1)
            score = logits.gather(1, cls.view(-1, 1)).sum()
            act = store["act"]
            (grads,) = torch.autograd.grad(score, act)
    finally:
        handle.remove()
    if kind == "tokens":
        act, grads = _tokens_to_maps(act), _tokens_to_maps(grads)
    weights = grads.mean((2, 3), keepdim=True)
    cam = F.relu((weights * act).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    flat = cam.flatten(1)
    lo, hi = flat.min(1).values[:, None, None], flat.max(1).values[:, None, None]
    cam = (cam - lo) / (hi - lo).clamp(min=1e-8)
    return cam.detach().numpy(), probs.detach().numpy()


def overlay(face: np.ndarray, cam: np.ndarray, size: int = 192) -> np.ndarray:
    """Gray face + heat map → RGB uint8 (size×size)."""
    import cv2

    g = cv2.resize(face, (size, size), interpolation=cv2.INTER_CUBIC)
    heat = cv2.applyColorMap((cv2.resize(cam, (size, size)) * 255).astype(np.uint8), cv2.COLORMAP_JET)
    heat = cv2.cvtColor(heat, cv2.COLOR_BGR2RGB)
    base = np.repeat(g[:, :, None], 3, axis=2)
    return (0.55 * base + 0.45 * heat).astype(np.uint8)


def plot_explanations(
    faces: np.ndarray, cams: np.ndarray, probs: np.ndarray, classes: list[str], out: str, title: str = ""
) -> None:
    from ferlab.figures import plt, save_figure
    from ferlab.labels import COLOURS

    n = len(faces)
    fig, axes = plt.subplots(n, 3, figsize=(8.4, 2.8 * n), squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(faces[i], cmap="gray", vmin=0, vmax=255)
        axes[i, 0].set_title(f"face #{i + 1}", fontsize=9)
        axes[i, 1].imshow(overlay(faces[i], cams[i]))
        axes[i, 1].set_title(f"Grad-CAM: {classes[int(probs[i].argmax())]}", fontsize=9)
        for a in axes[i, :2]:
            a.axis("off")
        axes[i, 2].barh(classes[::-1], probs[i][::-1], color=[COLOURS[c] for c in classes[::-1]])
        axes[i, 2].set_xlim(0, 1)
        axes[i, 2].tick_params(labelsize=8)
    if title:
        fig.suptitle(title)
    save_figure(fig, out)


def class_saliency(
    model: nn.Module, card: dict, images: torch.Tensor, labels: torch.Tensor, per_class: int = 200, seed: int = 0
) -> dict[str, np.ndarray]:
    """Mean Grad-CAM map of the true class over up to `per_class` images of each class."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for c, name in enumerate(card["classes"]):
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)[:per_class]]
        if len(idx) == 0:
            continue
        maps = [grad_cam(model, card, images[b], target=[c] * len(b))[0] for b in torch.split(idx, 64)]
        out[name] = np.concatenate(maps).mean(0)
    return out


def plot_class_saliency(maps: dict[str, np.ndarray], mean_faces: dict[str, np.ndarray], out: str, title: str) -> None:
    from ferlab.figures import plt, save_figure

    fig, axes = plt.subplots(2, len(maps), figsize=(2.1 * len(maps), 4.6), squeeze=False)
    for j, (c, m) in enumerate(maps.items()):
        axes[0, j].imshow(mean_faces[c], cmap="gray")
        axes[0, j].set_title(c, fontsize=9)
        axes[1, j].imshow(overlay(mean_faces[c].astype(np.uint8), m / max(m.max(), 1e-8), 96))
        for a in axes[:, j]:
            a.axis("off")
    axes[0, 0].text(-8, 24, "mean face", rotation=90, va="center", ha="right", fontsize=9)
    axes[1, 0].text(-16, 48, "mean Grad-CAM", rotation=90, va="center", ha="right", fontsize=9)
    fig.suptitle(title)
    save_figure(fig, out)
