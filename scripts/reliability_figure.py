"""Draw the bundled default's reliability diagram (docs/figures/reliability.png) from the
calibration numbers its card holds (written by `ferlab bundle`; nothing is recomputed).

Usage: python scripts/reliability_figure.py [--model NAME] [--out docs/figures/reliability.png]
"""

from __future__ import annotations

import argparse

from ferlab.card import DEFAULT_MODEL, read_card
from ferlab.figures import plot_reliability


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--out", default="docs/figures/reliability.png")
    args = ap.parse_args()
    card = read_card(args.model)
    cal = card["metrics"]["calibration"]
    from ferlab.io import atomic_write

    t = cal["temperature"]
    atomic_write(
        args.out,
        lambda tmp: plot_reliability(
            {
                f"as trained (ECE {cal['ece_before']:.3f})": cal["reliability_before"],
                f"temperature {t:.3g} (ECE {cal['ece_after']:.3f})": cal["reliability_after"],
            },
            tmp,
            f"{card['name']} as shipped\nheld-out half of PublicTest",
            fmt="png",
        ),
    )
    print(f"{args.out}: ECE {cal['ece_before']:.4f} → {cal['ece_after']:.4f} at T = {t}")


if __name__ == "__main__":
    main()
