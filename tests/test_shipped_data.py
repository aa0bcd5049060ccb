"""Checks of what ships in the package (cards and their records), kept apart from checks of code."""

from __future__ import annotations

from ferlab.card import DEFAULT_MODEL
from ferlab.evaluation.stability import PERTURBATIONS


def test_bundled_default_card_reports_its_stability():
    from ferlab.card import read_card, shipped_tta

    card = read_card(DEFAULT_MODEL)
    s = card["metrics"]["stability"]
    assert s["tta"] == shipped_tta(card) and s["n"] == 3589
    assert 0.5 < s["all"] <= min(s[k] for k in PERTURBATIONS) <= 1.0
