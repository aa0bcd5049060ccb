"""Vision Transformers through Hugging Face transformers: the study's ViT from scratch, and a
pretrained backbone (hub name or local folder) with a replaceable MLP head and block freezing.

Both take the same input as every ferlab model — the normalised 1×48×48 tensor from
`ferlab.preprocess.to_model_input` — and do their own gray→RGB, resize and backbone
normalisation inside `forward`, so training, evaluation and inference code stay shared.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ferlab.errors import FerlabError
from ferlab.labels import NUM_CLASSES
from ferlab.models.registry import register
from ferlab.preprocess import DEFAULT_MEAN, DEFAULT_STD

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def transformer_blocks(model: nn.Module, name: str = "backbone") -> nn.ModuleList:
    """The list of transformer blocks, wherever this transformers version keeps it."""
    for path in ("encoder.layer", "encoder.layers", "layers", "layer"):
        obj = model
        for attr in path.split("."):
            obj = getattr(obj, attr, None)
            if obj is None:
                break
        if isinstance(obj, nn.ModuleList):
            return obj
    raise FerlabError(f"{name}: no list of transformer blocks found (looked for encoder.layer, layers)")


class ScratchViT(nn.Module):
    def __init__(self, config) -> None:
        from transformers import ViTForImageClassification

        super().__init__()
        self.vit = ViTForImageClassification(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.vit(pixel_values=x.contiguous()).logits


@register("vit-scratch", "ViT from scratch at 48x48 (HF ViTConfig); depth 1 is the study's single encoder level")
def vit_scratch(
    patch_size: int = 6,
    hidden_size: int = 192,
    depth: int = 1,
    heads: int = 3,
    mlp_dim: int = 384,
    dropout: float = 0.1,
    num_classes: int = NUM_CLASSES,
) -> nn.Module:
    from transformers import ViTConfig

    if 48 % patch_size:
        raise FerlabError(f"vit-scratch: patch_size {patch_size} does not divide 48")
    cfg = ViTConfig(
        image_size=48,
        patch_size=patch_size,
        num_channels=1,
        hidden_size=hidden_size,
        num_hidden_layers=depth,
        num_attention_heads=heads,
        intermediate_size=mlp_dim,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
        num_labels=num_classes,
    )
    return ScratchViT(cfg)


def mlp_head(in_dim: int, layers: int, hidden: int, dropout: float, num_classes: int) -> nn.Sequential:
    """`layers` fully connected layers (the study: 3, then 5), ReLU and dropout between them."""
    if layers < 1:
        raise FerlabError("vit-pretrained: head_layers must be at least 1")
    mods: list[nn.Module] = []
    dim = in_dim
    for _ in range(layers - 1):
        mods += [nn.Linear(dim, hidden), nn.ReLU(inplace=True)]
        if dropout > 0:
            mods.append(nn.Dropout(dropout))
        dim = hidden
    mods.append(nn.Linear(dim, num_classes))
    return nn.Sequential(*mods)


def _load_backbone(name: str, pretrained: bool, backbone_config: dict | None):
    from transformers import AutoConfig, AutoModel
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    if backbone_config is not None:  # rebuilding from a ferlab card: the weights come from the checkpoint
        cfg_dict = dict(backbone_config)
        cfg = CONFIG_MAPPING[cfg_dict.pop("model_type")](**cfg_dict)
        return AutoModel.from_config(cfg)
    local = Path(os.path.expanduser(name))
    if not local.exists() and name.startswith((".", "/", "~")):
        raise FerlabError(
            f"vit-pretrained: backbone folder {local} does not exist (expected a Hugging Face "
            "folder with config.json and model.safetensors, e.g. ../shared/models/dinov2-small)"
        )
    try:
        if pretrained:
            return AutoModel.from_pretrained(str(local) if local.exists() else name)
        return AutoModel.from_config(AutoConfig.from_pretrained(str(local) if local.exists() else name))
    except (OSError, ValueError) as e:
        where = f"folder {local}" if local.exists() else f"hub model {name!r}"
        raise FerlabError(
            f"vit-pretrained: could not load {where} ({str(e).splitlines()[0][:160]}); offline, point "
            "backbone at a local Hugging Face folder (config.json + model.safetensors), e.g. "
            "../shared/models/dinov2-small, or pre-download it with huggingface-cli download"
        ) from None


class PretrainedViT(nn.Module):
    """Backbone → [CLS, mean of patch tokens] → MLP head. Blocks can be frozen from the bottom."""

    def __init__(
        self,
        backbone: str,
        image_size: int,
        head_layers: int,
        head_hidden: int,
        head_dropout: float,
        pretrained: bool,
        backbone_config: dict | None,
        mean: tuple,
        std: tuple,
        num_classes: int,
    ) -> None:
        super().__init__()
        self.backbone_name = backbone
        self.image_size = image_size
        # from_pretrained returns eval mode; like any nn.Module start in train mode, so Lightning's
        # train()/eval() switching governs the backbone too.
        self.backbone = _load_backbone(backbone, pretrained, backbone_config).train()
        hidden = self.backbone.config.hidden_size
        self.head = mlp_head(2 * hidden, head_layers, head_hidden, head_dropout, num_classes)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self._config = {
            "backbone": backbone,
            "image_size": image_size,
            "head_layers": head_layers,
            "head_hidden": head_hidden,
            "head_dropout": head_dropout,
            "pretrained": False,
            "backbone_config": self.backbone.config.to_diff_dict() | {"model_type": self.backbone.config.model_type},
            "mean": list(mean),
            "std": list(std),
            "num_classes": num_classes,
        }

    def card_config(self) -> dict:
        """The registry config that rebuilds this network without the hub (weights come from the checkpoint)."""
        return self._config

    @property
    def blocks(self) -> nn.ModuleList:
        return transformer_blocks(self.backbone, self.backbone_name)

    def set_trainable_blocks(self, k: int | None) -> None:
        """Train the last k transformer blocks (None: everything); the head always trains."""
        n = len(self.blocks)
        for p in self.backbone.parameters():
            p.requires_grad = k is None
        if k is not None:
            for blk in list(self.blocks)[max(0, n - k) :]:
                for p in blk.parameters():
                    p.requires_grad = True
            final_norm = getattr(self.backbone, "layernorm", None)
            if final_norm is not None and k > 0:
                for p in final_norm.parameters():
                    p.requires_grad = True

    def pixels(self, x: torch.Tensor) -> torch.Tensor:
        """ferlab-normalised 1×48×48 → backbone-normalised 3×S×S."""
        x = x * DEFAULT_STD + DEFAULT_MEAN  # back to [0, 1]
        x = x.float().contiguous()
        if x.shape[-1] != self.image_size:
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        return (x.expand(-1, 3, -1, -1) - self.mean) / self.std

    def features(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.cat([hidden[:, 0], hidden[:, 1:].mean(1)], dim=1)

    # The forward pass is split at block boundaries so the frozen bottom of the backbone can be
    # computed once and cached (ferlab.models.feature_cache), and training runs only the top.
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        kwargs = {"interpolate_pos_encoding": True} if self.backbone.config.model_type == "vit" else {}
        return self.backbone.embeddings(self.pixels(x), **kwargs)

    def run_blocks(self, h: torch.Tensor, start: int, end: int | None = None) -> torch.Tensor:
        for blk in list(self.blocks)[start:end]:
            h = blk(h)
            h = h[0] if isinstance(h, tuple) else h  # older transformers return tuples
        return h

    def pooled(self, h: torch.Tensor) -> torch.Tensor:
        """Hidden states after the last block → head input."""
        norm = getattr(self.backbone, "layernorm", None)
        return self.features(norm(h) if norm is not None else h)

    def forward_from(self, h: torch.Tensor, start: int) -> torch.Tensor:
        """Continue from hidden states after block `start` (or pooled features when start = depth)."""
        if start >= len(self.blocks) and h.dim() == 2:
            return self.head(h)
        return self.head(self.pooled(self.run_blocks(h, start)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_from(self.embed(x), 0)


@register(
    "vit-pretrained",
    "Pretrained HF backbone (hub name or folder) + MLP head of 3 or 5 layers",
    params_note="depends on the backbone (ViT-B/16 ~86M, DINOv2 ViT-S/14 ~22M) + head",
)
def vit_pretrained(
    backbone: str = "google/vit-base-patch16-224",
    image_size: int = 224,
    head_layers: int = 5,
    head_hidden: int = 512,
    head_dropout: float = 0.3,
    pretrained: bool = True,
    backbone_config: dict | None = None,
    mean: tuple | list | None = None,
    std: tuple | list | None = None,
    num_classes: int = NUM_CLASSES,
) -> nn.Module:
    if mean is None or std is None:
        mean, std = _backbone_norm(backbone)
    return PretrainedViT(
        backbone,
        image_size,
        head_layers,
        head_hidden,
        head_dropout,
        pretrained,
        backbone_config,
        tuple(mean),
        tuple(std),
        num_classes,
    )


def _backbone_norm(name: str) -> tuple[tuple, tuple]:
    """The backbone's own normalisation from its preprocessor config; ImageNet's when it has none."""
    import json

    f = Path(os.path.expanduser(name)) / "preprocessor_config.json"
    if f.is_file():
        cfg = json.loads(f.read_text())
        return tuple(cfg.get("image_mean", IMAGENET_MEAN)), tuple(cfg.get("image_std", IMAGENET_STD))
    if "google/vit" in name:
        return (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
    return IMAGENET_MEAN, IMAGENET_STD
