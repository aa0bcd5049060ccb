"""The study's CNNs (V1, V2.1) and the wider CNN family used for the bundled model."""

from __future__ import annotations

import torch
from torch import nn

from ferlab.errors import FerlabError
from ferlab.labels import NUM_CLASSES
from ferlab.models.registry import register


@register("cnn-v1", "Study CNN V1: conv-pool-conv-pool-FC (under-fits)")
def cnn_v1(channels: tuple[int, int] = (32, 64), num_classes: int = NUM_CLASSES) -> nn.Module:
    c1, c2 = channels
    return nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(c2 * 12 * 12, num_classes),
    )


@register("cnn-v2.1", "Study CNN V2.1: 4 conv 32/64/128/256 + ReLU + BN + 2x2 pool, dropout 0.5, FC head")
def cnn_v2_1(
    channels: tuple[int, ...] = (32, 64, 128, 256),
    hidden: int = 256,
    dropout: float = 0.5,
    num_classes: int = NUM_CLASSES,
) -> nn.Module:
    # The paper orders each block conv → ReLU → batch norm; kept as written.
    layers: list[nn.Module] = []
    cin = 1
    for c in channels:
        layers += [nn.Conv2d(cin, c, 3, padding=1), nn.ReLU(inplace=True), nn.BatchNorm2d(c), nn.MaxPool2d(2)]
        cin = c
    side = 48 // 2 ** len(channels)
    return nn.Sequential(*layers, *_fc_head(cin * side * side, hidden, dropout, num_classes))


def _fc_head(features: int, hidden: int, dropout: float, num_classes: int) -> list[nn.Module]:
    """Flatten → dropout → FC → ReLU → dropout → FC: the study's V2.1 head, shared by the CNN family."""
    return [
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(features, hidden),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(hidden, num_classes),
    ]


def _vgg_block(cin: int, cout: int, convs: int) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for i in range(convs):
        layers += [
            nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        ]
    return [*layers, nn.MaxPool2d(2)]


class GlobalAvgPool(nn.Module):
    """Mean over H and W. Written as a mean rather than AdaptiveAvgPool2d because the latter's
    CUDA backward is non-deterministic (it refuses to run under deterministic algorithms)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3), keepdim=True)


@register("cnn-vgg", "VGG-style CNN: blocks of 3x3 conv+BN+ReLU, 2x2 pooling, FC head (bundled-model family)")
def cnn_vgg(
    widths: tuple[int, ...] = (32, 64, 128, 256),
    convs_per_block: int = 2,
    hidden: int = 256,
    dropout: float = 0.4,
    head: str = "flatten",
    num_classes: int = NUM_CLASSES,
) -> nn.Module:
    """head: "flatten" feeds the last feature map whole to the FC head; "avg" averages it first,
    which keeps the head small when the last block is wide."""
    if head not in ("flatten", "avg"):
        raise FerlabError(f"cnn-vgg head must be 'flatten' or 'avg', not {head!r}")
    layers: list[nn.Module] = []
    cin = 1
    for w in widths:
        layers += _vgg_block(cin, w, convs_per_block)
        cin = w
    if head == "avg":
        return nn.Sequential(*layers, GlobalAvgPool(), *_fc_head(cin, hidden, dropout, num_classes))
    side = 48 // 2 ** len(widths)
    return nn.Sequential(*layers, *_fc_head(cin * side * side, hidden, dropout, num_classes))
