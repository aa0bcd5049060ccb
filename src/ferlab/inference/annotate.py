"""Annotated copies of images: a box per face, its label, and a bar per class.

`layout` places each face's label and probability panel before anything is drawn: labels stay
inside the image, and a panel goes beside its face, below it or inside its box — wherever it
covers no other face, label or panel — or is left out when none of those is free (many faces
packed together), never over a neighbour's label."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ferlab.labels import COLOURS, DISPLAY

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1


def _bgr(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return b, g, r


def _overlap(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@dataclass
class Placed:
    """Where one face's text goes: its label (rectangle and text origin) and its panel of bars
    (None when no free place was found)."""

    text: str
    label: Rect
    origin: tuple[int, int]
    panel: Rect | None


def _sizes(scale: float, n_classes: int) -> tuple[int, int, int, int]:
    bar_w, bar_h = int(70 * scale), max(6, int(11 * scale))
    return bar_w, bar_h, bar_w + int(80 * scale), n_classes * (bar_h + 3)


def layout(faces: list, size: tuple[int, int], numbers: list[int] | None = None) -> tuple[list[Placed], float]:
    """Each face's label and panel in an image of `size` (W, H), and the text scale."""
    W, H = size
    # text sized to the image: readable on a 4000 px photo and on a 320 px frame alike
    scale = max(0.6, min(3.0, max(H, W) / 700))
    thick = max(1, round(2 * scale))
    boxes = [(x, y, x + w, y + h) for x, y, w, h in (f.box for f in faces)]
    labels = []
    for i, f in enumerate(faces):
        x0, y0, x1, y1 = boxes[i]
        n = numbers[i] if numbers is not None else i + 1
        prob = f.probs.get(f.label, max(f.probs.values()))
        text = f"#{n} {DISPLAY.get(f.label, f.label)} {prob:.0%}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, thick)
        ty = y0 - 4 if y0 - th - 6 > 0 else min(H - base, y1 + th + 4)
        lx = max(0, min(x0, W - tw - 4))  # kept inside the image at the right edge too
        labels.append((text, (lx, ty - th - 4, lx + tw + 4, ty + base - 2), (lx + 2, ty - 2)))
    taken = [*boxes, *(r for _, r, _ in labels)]
    placed = []
    for i, f in enumerate(faces):
        x0, y0, x1, y1 = boxes[i]
        _, _, pw, ph = _sizes(scale, len(f.probs))
        candidates = [
            (x1 + 6, y0),  # right of the box
            (x0 - pw - 6, y0),  # left of it
            (x0, y1 + 4),  # below it
            (x0 + 2, y1 - ph - 2),  # inside it, at the bottom
        ]
        others = [r for j, r in enumerate(taken) if j not in (i, len(boxes) + i)]
        panel = None
        for px, py in candidates:
            r = (px, py, px + pw, py + ph)
            inside_own = r[0] >= x0 and r[2] <= x1 and r[1] >= y0 and r[3] <= y1
            fits = r[0] >= 0 and r[1] >= 0 and r[2] <= W and r[3] <= H
            if fits and not any(_overlap(r, o) for o in others) and (inside_own or not _overlap(r, boxes[i])):
                panel = r
                taken.append(r)
                break
        text, rect, origin = labels[i]
        placed.append(Placed(text, rect, origin, panel))
    return placed, scale


def annotate(rgb: np.ndarray, faces: list, numbers: list[int] | None = None) -> np.ndarray:
    """Returns a BGR image (for cv2.imwrite / VideoWriter) with boxes, labels and probability bars.
    numbers: what each face is called (video: its track id, as in the CSV); default 1, 2, ..."""
    img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    H, W = img.shape[:2]
    placed, scale = layout(faces, (W, H), numbers)
    thick = max(1, round(2 * scale))
    for f in faces:
        x, y, w, h = f.box
        cv2.rectangle(img, (x, y), (x + w, y + h), _bgr(COLOURS.get(f.label, "#ffffff")), thick)
    for f, p in zip(faces, placed, strict=True):  # text after every box: no box line crosses a label
        colour = _bgr(COLOURS.get(f.label, "#ffffff"))
        cv2.rectangle(img, p.label[:2], p.label[2:], colour, -1)
        cv2.putText(img, p.text, p.origin, cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (0, 0, 0), thick, cv2.LINE_AA)
        if p.panel is None:
            continue
        bar_w, bar_h, _, _ = _sizes(scale, len(f.probs))
        bx, by0 = p.panel[:2]
        for j, (c, prob) in enumerate(f.probs.items()):
            by = by0 + j * (bar_h + 3)
            cv2.rectangle(img, (bx, by), (bx + bar_w, by + bar_h), (60, 60, 60), -1)
            cv2.rectangle(img, (bx, by), (bx + int(bar_w * prob), by + bar_h), _bgr(COLOURS.get(c, "#ffffff")), -1)
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
