"""Remake a bundled model's int8 copy with today's quantisation and measure again how it ships.

    python scripts/requantize_bundled.py NAME [--data ../shared/data/fer2013-no-private.zip]

Same calibration images as `ferlab bundle --int8` (1,024 class-stratified training images, seed 0);
then the shipped configuration's accuracy on val, its temperature and calibration, and its cost
per face on this CPU (run it with nothing else running). Rewrites NAME.int8.onnx and the card
record NAME.json, never NAME.safetensors. Used when the quantisation changed (reduce_range: the
8-bit copies gave different labels on CPUs with and without VNNI; scripts/int8_reduce_range.py).
"""

from __future__ import annotations

import argparse

from ferlab.card import read_card
from ferlab.paths import default_data
from ferlab.weights_bundle import requantize


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("name")
    ap.add_argument("--data", default=default_data())
    args = ap.parse_args()
    before = read_card(args.name)["metrics"]
    out = requantize(args.name, data=args.data)
    after = read_card(args.name)["metrics"]
    print(f"{out}: val as shipped {before.get('val_accuracy_default')} -> {after['val_accuracy_default']}")
    ms = [m["shipped"]["ms_per_face_batch1"] for m in (before, after)]
    print(f"ms per face as shipped {ms[0]} -> {ms[1]} ({after['shipped']['machine']['cpu']})")


if __name__ == "__main__":
    main()
