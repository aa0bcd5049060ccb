"""FER+'s 8-class model (contempt added, the protocol Barsoum et al. report) from the bundled 7-class
default, without retraining its body: the network up to its last layer is kept, and a new 8-way last
layer is fitted on FER+ Train's 8-class vote distributions, each face and its mirror image, on
features computed once (minutes on a CPU, where a whole fine-tuning epoch takes half an hour). The
7 rows start from the default's, contempt's from neutral's (the class FER+ voters confuse it with
most). Nothing is selected on FER+ Valid: the recipe is fixed and run once.

    python scripts/ferplus8.py --out runs/ferplus8
    ferlab bundle runs/ferplus8 --name fer-vgg-wide-ferplus8 --base fer-vgg-wide-ferplus \
        --labels ferplus-majority8 --int8 --backend-default onnxruntime --tta-default zoomflip \
        --out src/ferlab/weights
    python scripts/class_prior.py fer-vgg-wide-ferplus8

`--base` stores only the last layer (8 kB); the rest is read from fer-vgg-wide-ferplus.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ferlab.card import DEFAULT_MODEL, make_card
from ferlab.checkpoint import load_model, save_checkpoint
from ferlab.data import load_fer2013
from ferlab.errors import FerlabError
from ferlab.labels import CLASSES_8
from ferlab.measure import machine_info
from ferlab.paths import default_data
from ferlab.preprocess import to_model_input


@torch.inference_mode()
def features(body: torch.nn.Module, images: torch.Tensor, mean: float, std: float, desc: str) -> torch.Tensor:
    out = []
    for i in tqdm(range(0, len(images), 256), desc=desc, unit="batch"):
        out.append(body(to_model_input(images[i : i + 256], mean, std)))
    return torch.cat(out)


def fit_last_layer(
    feats: torch.Tensor, targets: torch.Tensor, init: torch.nn.Linear, *, epochs: int, lr: float, seed: int = 0
) -> torch.nn.Linear:
    """Cross-entropy against the vote distributions, AdamW on shuffled mini-batches of 512."""
    layer = copy.deepcopy(init)
    opt = torch.optim.AdamW(layer.parameters(), lr=lr, weight_decay=5e-4)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(feats), generator=g).split(512):
            loss = -(targets[idx] * F.log_softmax(layer(feats[idx]), 1)).sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return layer


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=default_data(), help="FER-2013 (Kaggle layout, zip or fer2013.csv)")
    ap.add_argument("--base", default=DEFAULT_MODEL, help="the 7-class model whose body is kept")
    ap.add_argument("--out", required=True, help="checkpoint folder to write")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--lr", type=float, default=1e-3)
    args = ap.parse_args()
    try:
        model, card = load_model(args.base)
        last = model[-1]
        if not isinstance(last, torch.nn.Linear) or last.out_features != 7:
            raise FerlabError(f"{args.base}: its last layer is not a 7-way linear layer")
        body = model[:-1].eval()
        data = load_fer2013(args.data, labels="ferplus-soft8")
        train, val = data.split("train"), data.split("val")
        mean, std = card["input"]["mean"], card["input"]["std"]
        f_train = torch.cat(
            [
                features(body, train.images, mean, std, "train faces"),
                features(body, train.images.flip(-1), mean, std, "their mirror images"),
            ]
        )
        targets = torch.cat([train.soft, train.soft])
        init = torch.nn.Linear(last.in_features, 8)
        with torch.no_grad():
            init.weight[:7], init.bias[:7] = last.weight, last.bias
            neutral = CLASSES_8.index("neutral")
            init.weight[7], init.bias[7] = last.weight[neutral], last.bias[neutral] - 2.0  # rarer than neutral
        layer = fit_last_layer(f_train, targets, init, epochs=args.epochs, lr=args.lr)
        f_val = features(body, val.images, mean, std, "val faces")
        with torch.no_grad():
            acc = float((layer(f_val).argmax(1) == val.labels).float().mean())
        print(f"FER+ Valid, 8 classes (majority protocol), no TTA: {acc:.4f} (n={len(val.labels)})")
        model8 = copy.deepcopy(model)
        model8[-1] = layer
        arch_config = {**card["arch_config"], "num_classes": 8}
        card8 = make_card(
            card["architecture"],
            arch_config,
            mean=mean,
            std=std,
            params=sum(p.numel() for p in model8.parameters()),
            name="fer-vgg-wide-ferplus8",
            classes=CLASSES_8,
            training={
                "data": str(args.data),
                "data_notes": data.notes,
                "labels": data.labels,
                "train_images": len(train.labels),
                "init_from": args.base,
                "recipe": f"the base's body frozen; an 8-way last layer fitted on cached features of each face and "
                f"its mirror image, AdamW lr {args.lr:g}, weight decay 5e-4, {args.epochs} epochs, batch 512, seed 0",
                "selection_split": "none: a fixed recipe, run once",
                "machine": machine_info(),
            },
            metrics={"val_accuracy": acc, "labels": "ferplus-majority8"},
            command=["python", *sys.argv],
        )
        save_checkpoint(model8, card8, Path(args.out))
        print(f"wrote {args.out}")
    except FerlabError as e:
        print(f"ferplus8: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
