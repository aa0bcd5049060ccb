"""Annotated copies of images: a box per face, its label, and a bar per class."""

from __future__ import annotations

import cv2
import numpy as np

from ferlab.labels import COLOURS, DISPLAY


def _bgr(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return b, g, r


def annotate(rgb: np.ndarray, faces: list, numbers: list[int] | None = None) -> np.ndarray:
    """Returns a BGR image (for cv2.imwrite / VideoWriter) with boxes, labels and probability bars.
    numbers: what each face is called (video: its track id, as in the CSV); default 1, 2, ..."""
    img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    H, W = img.shape[:2]
    # text sized to the image: readable on a 4000 px photo and on a 320 px frame alike
    scale = max(0.6, min(3.0, max(H, W) / 700))
    thick = max(1, round(2 * scale))
    for i, f in enumerate(faces):
        x, y, w, h = f.box
        colour = _bgr(COLOURS.get(f.label, "#ffffff"))
        cv2.rectangle(img, (x, y), (x + w, y + h), colour, thick)
        n = numbers[i] if numbers is not None else i + 1
        prob = f.probs.get(f.label, max(f.probs.values()))
        text = f"#{n} {DISPLAY.get(f.label, f.label)} {prob:.0%}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, thick)
        ty = y - 4 if y - th - 6 > 0 else y + h + th + 4
        cv2.rectangle(img, (x, ty - th - 4), (x + tw + 4, ty + base - 2), colour, -1)
        cv2.putText(img, text, (x + 2, ty - 2), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (0, 0, 0), thick, cv2.LINE_AA)
        # probability bars beside the box (inside the image)
        bar_w, bar_h = int(70 * scale), max(6, int(11 * scale))
        bx = x + w + 6 if x + w + 6 + bar_w + 80 * scale < W else max(0, x - bar_w - int(86 * scale))
        for j, (c, p) in enumerate(f.probs.items()):
            by = y + j * (bar_h + 3)
            if by + bar_h >= H:
                break
            cv2.rectangle(img, (bx, by), (bx + bar_w, by + bar_h), (60, 60, 60), -1)
            cv2.rectangle(img, (bx, by), (bx + int(bar_w * p), by + bar_h), _bgr(COLOURS.get(c, "#ffffff")), -1)
            cv2.putText(
                img,
                c,
                (bx + bar_w + 3, by + bar_h - 1),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.4 * scale,
                (255, 255, 255),
                max(1, round(scale / 1.5)),
                cv2.LINE_AA,
            )
    return img
