"""Class priors (ferlab.runtime.prior): re-weighting a model's probabilities for a collection."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import PHOTO

from ferlab.cli import main
from ferlab.errors import FerlabError
from ferlab.inference.recognizer import Recognizer
from ferlab.runtime.prior import estimate, shift


def _calibrated_faces(prior: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Faces drawn under `prior` and the exact posterior under a uniform training prior: each
    class a unit Gaussian around its own point on a circle, so p(y|x) ∝ exp(-|x - μ_y|² / 2)."""
    rng = np.random.default_rng(seed)
    k = len(prior)
    mu = 2.0 * np.stack([np.cos(2 * np.pi * np.arange(k) / k), np.sin(2 * np.pi * np.arange(k) / k)], 1)
    y = rng.choice(k, n, p=prior)
    x = mu[y] + rng.normal(0, 1.0, (n, 2))
    z = -0.5 * ((x[:, None, :] - mu[None]) ** 2).sum(-1)
    p = np.exp(z - z.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True), y


def test_shift_is_bayes_rule_and_leaves_the_prior_it_was_made_under_alone():
    p = np.array([[0.5, 0.3, 0.2]])
    assert np.allclose(shift(p, [1 / 3] * 3, [1 / 3] * 3), p)
    moved = shift(p, [0.5, 0.25, 0.25], [1 / 3] * 3)
    assert np.allclose(moved, np.array([[0.5 / 0.5, 0.3 / 0.25, 0.2 / 0.25]]) / 3.0)
    assert np.allclose(moved.sum(1), 1)


def test_em_recovers_a_collections_prior_and_needs_a_collection():
    true = np.array([0.05, 0.05, 0.4, 0.1, 0.1, 0.2, 0.1])
    p, y = _calibrated_faces(true, 20_000, 0)
    uniform = np.full(7, 1 / 7)
    # what a classifier whose probabilities assume a uniform prior reports, re-weighted by EM
    est = estimate(p, uniform)
    empirical = np.bincount(y, minlength=7) / len(y)
    assert np.abs(est - empirical).max() < 0.03 and np.abs(p.mean(0) - empirical).max() > 0.05
    with pytest.raises(FerlabError, match="needs at least 20 faces, not 3: give a collection"):
        estimate(p[:3], uniform)


def test_prior_options_on_the_command_line(tmp_path, capsys):
    rec = Recognizer(prior="uniform")
    plain = Recognizer()
    faces = np.stack([f.crop for f in plain.preprocess(PHOTO).found])
    assert not np.allclose(rec.probabilities(faces), plain.probabilities(faces))
    # a prior estimated from a collection is refused for one photo, in one line
    assert main(["predict", str(PHOTO), "--prior", "collection"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs at least 20 faces, not 1: give a collection" in err
    assert main(["video", "0", "--prior", "collection"]) == 2
    assert "a video is labelled as it plays: use --prior uniform" in capsys.readouterr().err
    assert main(["serve", "--prior", "collection"]) == 2
    assert "the server labels each request as it comes: use --prior uniform" in capsys.readouterr().err
    out = tmp_path / "r.jsonl"
    assert main(["predict", str(PHOTO), "--prior", "collection", "--out", str(out)]) == 2
    assert "cannot stream to --out" in capsys.readouterr().err


def test_a_model_that_does_not_say_its_prior_is_refused(ckpt):
    with pytest.raises(FerlabError, match="does not say the class prior it learned"):
        Recognizer(str(ckpt), prior="uniform")


def test_em_cannot_run_away_on_probabilities_that_are_not_calibrated():
    """On film faces EM followed fer-vgg-wide's bias until every face was "disgust"."""
    from ferlab.runtime.prior import MAX_SHIFT

    source = np.array([0.14, 0.015, 0.14, 0.25, 0.17, 0.11, 0.175])
    p = np.tile([0.1, 0.2, 0.1, 0.2, 0.15, 0.1, 0.15], (500, 1))  # disgust far likelier than trained on
    est = estimate(p, source)
    assert est[1] <= MAX_SHIFT * source[1] / est.sum() + 1e-6 and est.max() < 0.5
