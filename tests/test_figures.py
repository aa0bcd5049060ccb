"""The study's figures are readable: value labels never overlap, text stays inside its panel, legends
tell splits apart."""

from __future__ import annotations

import matplotlib

from ferlab.figures import plot_class_distribution, plot_loss_curves, plot_per_class
from ferlab.labels import CLASSES, COLOURS


def _renderer(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)  # the saved figure was closed: draw it again, off screen
    canvas.draw()
    return canvas.get_renderer()


def _overlaps(boxes) -> bool:
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def test_figure8_value_labels_do_not_overlap(tmp_path):
    models = {name: dict.fromkeys(CLASSES, 0.0) for name in ("CNN V1", "CNN V2.1", "ViT", "ViT scratch", "Ensemble")}
    fig = plot_per_class(models, tmp_path / "f8.png")
    renderer = _renderer(fig)
    labels = [t for t in fig.axes[0].texts if t.get_text()]
    assert len(labels) == 5 * 7
    assert not _overlaps([t.get_window_extent(renderer) for t in labels])


def test_figure4_best_accuracy_text_stays_inside_the_panel(tmp_path):
    rows = [
        {"epoch": e, "train_loss": 2 - 0.1 * e, "val_loss": 2.0 - 0.05 * e, "val_acc": 0.2 + 0.01 * e}
        for e in (1, 2, 3)
    ]
    fig = plot_loss_curves({"lr = 0.001": rows}, tmp_path / "f4.png")
    renderer = _renderer(fig)
    ax = fig.axes[0]
    text = next(t for t in ax.texts if "best val acc" in t.get_text())
    box, panel = text.get_window_extent(renderer), ax.get_window_extent(renderer)
    assert panel.y0 <= box.y0 and box.y1 <= panel.y1


def test_figure1_legend_tells_splits_apart_without_class_colours(tmp_path):
    counts = {"train": dict.fromkeys(CLASSES, 10), "val": dict.fromkeys(CLASSES, 3)}
    fig = plot_class_distribution(counts, tmp_path / "f1.png")
    handles = fig.axes[0].get_legend().legend_handles
    assert [h.get_label() for h in handles] == ["train", "val"]
    class_rgba = {matplotlib.colors.to_hex(COLOURS[c]) for c in CLASSES}
    assert not {matplotlib.colors.to_hex(h.get_facecolor()) for h in handles} & class_rgba
    assert len({h.get_hatch() for h in handles}) == 2
