"""Store a bundled model's headline accuracies in its card record (NAME.json; the weights file is
never rewritten), as shipped: FER-2013 PublicTest with the labels its card was measured on, as it is
and without the images that repeat a training image, and FER+ Valid (the FERPlus layout, majority
protocol) where that data is present. `ferlab info` prints them.

Usage: python scripts/card_headlines.py NAME [--data ZIP] [--ferplus ZIP_OR_ROOT]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ferlab.card import read_card
from ferlab.evaluation.evaluate import evaluate_ref
from ferlab.measure import machine_info
from ferlab.paths import default_data
from ferlab.weights_bundle import add_card_metrics

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def headline(res: dict) -> dict:
    keys = ("n", "accuracy", "macro_f1", "accuracy_without_train_duplicates", "n_without_train_duplicates")
    return {k: res[k] for k in keys if k in res} | {"tta": res["tta"], "backend": res["backend"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("name")
    ap.add_argument("--data", default=default_data())
    ap.add_argument("--ferplus", default=str(SHARED / "ferplus" / "ferplus-no-test.zip"))
    args = ap.parse_args()
    labels = read_card(args.name)["metrics"].get("labels") or "original"
    public = evaluate_ref(args.name, args.data, "val", labels=labels)
    record = {"publictest": headline(public) | {"labels": labels}}
    if Path(args.ferplus).exists():
        valid = evaluate_ref(args.name, args.ferplus, "val")  # the majority protocol of the model's classes
        record["ferplus_valid"] = headline(valid) | {"labels": valid["labels"]}
    add_card_metrics(args.name, {"headline": {**record, "machine": machine_info()}})
    for where, r in record.items():
        print(
            f"{args.name} {where}: {r['accuracy']:.4f} (n={r['n']}), without train duplicates "
            f"{r.get('accuracy_without_train_duplicates', float('nan')):.4f}"
        )


if __name__ == "__main__":
    main()
