"""Record in a bundled model's card record the class prior its probabilities carry: the class
frequencies of the labels it was trained on (the mean vote distribution for FER+ soft labels;
uniform where training resampled classes to balance). `--prior uniform|collection` re-weights
from it (ferlab.runtime.prior). The weights file is never rewritten.

Usage: python scripts/class_prior.py NAME [--data ZIP]
"""

from __future__ import annotations

import argparse

import numpy as np

from ferlab.card import read_card
from ferlab.catalogue import learned_labels
from ferlab.data import load_fer2013
from ferlab.paths import default_data
from ferlab.weights_bundle import add_card_metrics


def training_prior(card: dict, data: str) -> tuple[np.ndarray, str]:
    cfg = (card.get("training") or {}).get("config") or {}
    d = {"labels": learned_labels(card), **(cfg.get("data") or {})}
    if d.get("balanced"):
        n = len(card["classes"])
        return np.full(n, 1.0 / n), "uniform: training resampled the classes to balance"
    train = load_fer2013(data, labels=d.get("labels")).split("train")
    if train.soft is not None:
        return np.asarray(train.soft, np.float64).mean(0), f"mean FER+ vote distribution of {len(train)} training faces"
    counts = np.bincount(np.asarray(train.labels), minlength=len(card["classes"]))
    return counts / counts.sum(), f"class frequencies of {len(train)} training faces ({d.get('labels') or 'original'})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("name")
    ap.add_argument("--data", default=default_data())
    args = ap.parse_args()
    card = read_card(args.name)
    prior, how = training_prior(card, args.data)
    rounded = [round(float(v), 4) for v in prior / prior.sum()]
    out = add_card_metrics(args.name, {"train_prior_from": how}, inference={"train_prior": rounded})
    print(f"{args.name}: " + ", ".join(f"{c} {v:.3f}" for c, v in zip(card["classes"], rounded, strict=True)))
    print(f"  ({how}) → {out}")


if __name__ == "__main__":
    main()
