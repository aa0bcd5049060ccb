"""The study's metrics from probabilities and labels, in numpy: accuracy, per-class accuracy
(recall), macro F1, NLL and the confusion matrix.

Written with numpy rather than torchmetrics so that `ferlab evaluate` of a shipped model runs on
the light install (no torch); tests/test_light_install.py checks every number against
torchmetrics' on random data, classes missing included.
"""

from __future__ import annotations

import numpy as np

from ferlab.labels import classes_for


def scores(probs: np.ndarray, labels: np.ndarray) -> dict:
    """Scores over the classes the probabilities' width names: FER-2013's 7 or FER+'s 8."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    classes = classes_for(probs.shape[1])
    k = len(classes)
    n = len(labels)
    pred = probs.argmax(1) if n else np.zeros(0, np.int64)
    cm = np.bincount(labels * k + pred, minlength=k**2).reshape(k, k)
    support = cm.sum(1)
    tp = np.diag(cm).astype(np.float64)
    fp, fn = cm.sum(0) - tp, support - tp
    # torchmetrics' macro F1: a class neither present nor predicted takes no part in the mean
    seen = (tp + fp + fn) > 0
    f1 = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros(k), where=seen)
    per_class = tp / np.maximum(support, 1)
    nll = float(-np.log(np.clip(probs[np.arange(n), labels], 1e-12, None)).mean()) if n else float("nan")
    return {
        "n": int(n),
        "accuracy": float((pred == labels).mean()) if n else float("nan"),
        "per_class": dict(zip(classes, per_class.tolist(), strict=True)),
        "support": dict(zip(classes, support.tolist(), strict=True)),
        "macro_f1": float(f1[seen].mean()) if seen.any() else 0.0,
        "loss": nll,
        "confusion": cm.tolist(),
        "confusion_normalized": np.round(cm / np.maximum(support, 1)[:, None], 4).tolist(),
    }
