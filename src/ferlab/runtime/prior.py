"""Class priors: what a model's probabilities assume about how often each emotion occurs, and
how to re-weight them for a collection that differs.

A classifier's calibrated probabilities carry its training set's class frequencies: FER+ is
37% neutral, so a face that could be neutral or afraid is called neutral. A film, a posed-
expression study or a clinic has other frequencies. Bayes' rule moves the probabilities to
another prior without retraining: p'(y|x) ∝ p(y|x) · π'(y) / π(y) (Saerens, Latinne and
Decaestecker, "Adjusting the outputs of a classifier to new a priori probabilities", Neural
Computation 2002). The new prior can be

- "uniform": every emotion equally likely — per face, no collection needed;
- "collection": estimated from the collection itself by their EM algorithm (alternate: re-weight
  every face's probabilities by the current prior, take their mean as the next prior), which
  needs many faces: it is refused for fewer than `MIN_COLLECTION`. EM trusts the probabilities to
  be calibrated on the collection; on faces unlike the training set they are not, and EM follows
  the model's own bias (benchmarks/real_faces.py: on film faces it decided fear was rarer still,
  and for `fer-vgg-wide` it ran away until every face was "disgust"). So the estimate is kept
  within a factor `MAX_SHIFT` of the training prior, per class.

numpy only (the light install re-weights too)."""

from __future__ import annotations

import numpy as np

from ferlab.errors import FerlabError
from ferlab.options import PRIORS

# EM estimates a prior from the faces themselves: with fewer than this it mostly echoes them back
MIN_COLLECTION = 20
# how far, per class, a collection's estimated prior may move from the training one (a ratio)
MAX_SHIFT = 3.0


def shift(probs: np.ndarray, source, target) -> np.ndarray:
    """Probabilities made under class prior `source`, moved to class prior `target` (rows sum to 1)."""
    w = np.asarray(target, np.float64) / np.clip(np.asarray(source, np.float64), 1e-12, None)
    p = np.asarray(probs, np.float64) * w
    return (p / np.clip(p.sum(-1, keepdims=True), 1e-12, None)).astype(np.float32)


def estimate(probs: np.ndarray, source, *, iters: int = 1000, tol: float = 1e-7) -> np.ndarray:
    """The class prior of a collection of faces, by EM on their (calibrated) probabilities made
    under `source` (Saerens et al. 2002)."""
    probs = np.asarray(probs, np.float64)
    if len(probs) < MIN_COLLECTION:
        raise FerlabError(
            f"a prior estimated from the collection needs at least {MIN_COLLECTION} faces, not {len(probs)}: "
            "give a collection (a folder, a video), or --prior uniform for single images"
        )
    source = np.asarray(source, np.float64) / np.sum(source)
    pi = source.copy()
    for _ in range(iters):
        nxt = _within(shift(probs, source, pi).astype(np.float64).mean(0), source / MAX_SHIFT, source * MAX_SHIFT)
        if np.abs(nxt - pi).max() < tol:
            pi = nxt
            break
        pi = nxt
    return pi


def _within(pi: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The distribution closest in shape to `pi` (pi scaled, then clipped) with lo ≤ value ≤ hi:
    the scale that makes the clipped values sum to 1, found by bisection (lo sums below 1, hi above)."""
    a, b = 0.0, float(hi.max() / max(pi.min(), 1e-12)) + 1.0
    for _ in range(100):
        mid = (a + b) / 2
        a, b = (mid, b) if np.clip(mid * pi, lo, hi).sum() < 1.0 else (a, mid)
    out = np.clip(b * pi, lo, hi)
    return out / out.sum()


def target_prior(kind: str, n_classes: int) -> np.ndarray | None:
    """The fixed target prior a name gives (None: keep the model's; "collection" is estimated)."""
    if kind not in PRIORS:
        raise FerlabError(f"unknown prior {kind!r}; use {', '.join(PRIORS)}")
    return np.full(n_classes, 1.0 / n_classes) if kind == "uniform" else None
