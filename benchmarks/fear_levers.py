"""Levers for fear on film faces (issue 29's fear-recall target), each fixed before it is measured, on
SFEW 2.0 Train (faces found and framed as `predict` frames them; choice only, never trained or tuned on)
and FER+ Valid:

- the default as shipped, and under the uniform prior (`--prior uniform`);
- more test-time views (`--tta multi`, 5 views) under the uniform prior;
- the FER-2013-label model (`fer-vgg-wide`: FER-2013's fear is broader than FER+'s, whose annotators
  moved most of FER-2013's fear faces to other classes);
- both bundled models averaged with equal weights (no weight is fitted: a fitted weight would be fitted on
  the very faces reported), the FER+ model under the uniform prior, and both under it.

Usage: python benchmarks/fear_levers.py
Writes benchmarks/results/fear_levers.json and .md. Needs ../shared/data/sfew and ../shared/data/ferplus.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from real_faces import SHARED, WATCHED, sfew_folder

from ferlab.card import DEFAULT_MODEL
from ferlab.data import load_fer2013
from ferlab.data.folder import read_labelled_folder
from ferlab.evaluation.evaluate import recognizer_probs
from ferlab.evaluation.scores import scores
from ferlab.inference.recognizer import Recognizer
from ferlab.labels import CLASSES
from ferlab.measure import machine_info, write_results
from ferlab.runtime.prior import shift

OUT = Path(__file__).parent / "results"
FER2013_MODEL = "fer-vgg-wide"


def film_faces(folder: Path, rec: Recognizer) -> tuple[np.ndarray, np.ndarray]:
    """The largest face found in each SFEW crop, framed by the pipeline, and its label."""
    lf = read_labelled_folder(folder)
    crops, labels = [], []
    for f, y in zip(lf.files, lf.labels, strict=True):
        found = rec.preprocess(f).found
        if found:
            crops.append(max(found, key=lambda x: x.detection.box[2] * x.detection.box[3]).crop)
            labels.append(y)
    return np.stack(crops), np.asarray(labels)


def summary(probs: np.ndarray, labels: np.ndarray) -> dict:
    s = scores(probs, labels)
    present = [c for c, n in s["support"].items() if n]
    fear = CLASSES.index("fear")
    return {
        "n": s["n"],
        "accuracy": s["accuracy"],
        "balanced_accuracy": float(np.mean([s["per_class"][c] for c in present])),
        "recall": s["per_class"],
        "fear_found": f"{int(((probs.argmax(1) == fear) & (labels == fear)).sum())}/{int((labels == fear).sum())}",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sfew", default=str(SHARED / "sfew" / "sfew-train.zip"))
    ap.add_argument("--ferplus", default=str(SHARED / "ferplus" / "ferplus-no-test.zip"))
    args = ap.parse_args()
    default, fer2013 = Recognizer(DEFAULT_MODEL), Recognizer(FER2013_MODEL)
    multi = Recognizer(DEFAULT_MODEL, tta="multi")
    films = film_faces(sfew_folder(Path(args.sfew)), default)
    valid = load_fer2013(args.ferplus).split("val")
    sets = {"sfew": films, "ferplus_valid": (np.asarray(valid.images), np.asarray(valid.labels))}
    uniform = np.full(len(CLASSES), 1 / len(CLASSES))
    to_uniform = lambda rec, p: shift(p, rec.train_prior, uniform)
    levers = {
        "default (as shipped)": lambda x: recognizer_probs(default, x),
        "default, --prior uniform": lambda x: to_uniform(default, recognizer_probs(default, x)),
        "default, --prior uniform --tta multi": lambda x: to_uniform(multi, recognizer_probs(multi, x)),
        f"{FER2013_MODEL} (FER-2013 labels)": lambda x: recognizer_probs(fer2013, x),
        f"default (uniform) + {FER2013_MODEL}, equal weights": lambda x: (
            0.5 * to_uniform(default, recognizer_probs(default, x)) + 0.5 * recognizer_probs(fer2013, x)
        ),
        f"default + {FER2013_MODEL}, both uniform, equal weights": lambda x: (
            0.5 * to_uniform(default, recognizer_probs(default, x))
            + 0.5 * to_uniform(fer2013, recognizer_probs(fer2013, x))
        ),
    }
    rows = {}
    for name, probs in levers.items():
        rows[name] = {k: summary(probs(x), y) for k, (x, y) in sets.items()}
        print(name, {k: round(v["balanced_accuracy"], 4) for k, v in rows[name].items()}, flush=True)
    m = machine_info()
    md = [
        "### Levers for fear on film faces (`python benchmarks/fear_levers.py`)",
        "",
        f"SFEW 2.0 Train faces found and framed by the pipeline (n={rows['default (as shipped)']['sfew']['n']}; choice "
        f"only) and FER+ Valid (n={rows['default (as shipped)']['ferplus_valid']['n']}). {m['cpu']}.",
        "",
        "| lever | SFEW accuracy | SFEW balanced | SFEW fear (found) | "
        + " | ".join(f"SFEW {c}" for c in WATCHED[1:])
        + " | FER+ Valid accuracy | FER+ Valid balanced |",
        "|---|---:|---:|---:|" + "---:|" * (len(WATCHED) - 1) + "---:|---:|",
    ]
    for name, r in rows.items():
        s, v = r["sfew"], r["ferplus_valid"]
        md.append(
            f"| {name} | {s['accuracy']:.4f} | {s['balanced_accuracy']:.4f} | {s['recall']['fear']:.3f} "
            f"({s['fear_found']}) | "
            + " | ".join(f"{s['recall'][c]:.2f}" for c in WATCHED[1:])
            + f" | {v['accuracy']:.4f} | {v['balanced_accuracy']:.4f} |"
        )
    write_results(OUT, "fear_levers", {"machine": m, "rows": rows}, md)


if __name__ == "__main__":
    main()
