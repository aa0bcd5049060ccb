"""Label stability under photo perturbations (ferlab.evaluation.stability)."""

from __future__ import annotations

import numpy as np

from ferlab.evaluation.stability import PERTURBATIONS, consistency


def test_consistency_measures_label_flips():
    faces = np.random.default_rng(0).integers(0, 256, (20, 48, 48), dtype=np.uint8)

    def left_brighter(x):  # a "model" whose label is which half of the face is brighter: mirroring flips it
        d = x[:, :, :24].mean((1, 2)) > x[:, :, 24:].mean((1, 2))
        return np.stack([d, ~d], 1).astype(np.float32)

    res = consistency(left_brighter, faces)
    assert res["mirror"] == 0.0 and res["all"] == 0.0 and res["n"] == 20
    const = consistency(lambda x: np.tile([0.2, 0.8], (len(x), 1)), faces)
    assert all(const[k] == 1.0 for k in [*PERTURBATIONS, "all"])
