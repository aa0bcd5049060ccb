"""`ferlab compare`: several models' per-class accuracy side by side (the study's Figure 8)."""

from __future__ import annotations

import json
from pathlib import Path

from ferlab.errors import FerlabError
from ferlab.io import atomic_write, atomic_write_json, atomic_write_text
from ferlab.options import RecognizerOptions
from ferlab.run_dir import RunDir
from ferlab.tta import tta_mode


def _load_input(ref: str, data: str, split: str, tta: str | None = "none") -> dict:
    p = Path(ref)
    if p.is_file() and p.suffix == ".json":
        try:
            res = json.loads(p.read_text())
        except json.JSONDecodeError as e:
            raise FerlabError(f"{p}: not valid JSON ({e.msg} at line {e.lineno})") from None
        if not isinstance(res, dict) or "per_class" not in res or "accuracy" not in res:
            raise FerlabError(
                f"{p}: not a ferlab evaluation (needs 'accuracy' and 'per_class'; make one with ferlab evaluate --json)"
            )
        return res
    from ferlab.evaluation.evaluate import evaluate_ref

    res = evaluate_ref(ref, data, split, options=RecognizerOptions(tta=tta))
    if p.is_dir() and RunDir(p).summary_file.exists():
        res["model"] = RunDir(p).name
    return res


def compare(inputs: list[str], out: Path, *, data: str, split: str = "val", tta: str | None = "none") -> Path:
    """`tta` for inputs that need evaluating: a mode, or None for what each model's card ships."""
    from ferlab.figures import plot_per_class

    results = [_load_input(r, data, split, tta) for r in inputs]
    _same_images_and_labels(inputs, results)
    names: list[str] = []
    for r in results:  # keep labels unique when two inputs share a model name
        tta = tta_mode(r.get("tta"))
        base = f"{r['model']}{f' +TTA {tta}' if tta != 'none' else ''}"
        name, k = base, 2
        while name in names:
            name, k = f"{base} ({k})", k + 1
        names.append(name)
    out.mkdir(parents=True, exist_ok=True)
    splits = {r.get("split") for r in results}
    labels = results[0].get("labels") or "the folder's"
    title = (
        f"Per-class accuracy on {'/'.join(sorted(s for s in splits if s))} ({labels} labels, n={results[0].get('n')})"
    )
    atomic_write(
        out / "per_class.png",
        lambda tmp: plot_per_class(
            {n: r["per_class"] for n, r in zip(names, results, strict=True)}, tmp, title, fmt="png"
        ),
    )
    lines = [f"# {title}", "", "| class | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    classes = list(results[0]["per_class"])  # the label set is one (checked above): 7 classes, or 8
    for c in classes:
        vals = [r["per_class"][c] for r in results]
        best = max(vals)
        lines.append(f"| {c} | " + " | ".join(f"**{v:.4f}**" if v == best else f"{v:.4f}" for v in vals) + " |")
    lines.append("| **accuracy** | " + " | ".join(f"{r['accuracy']:.4f}" for r in results) + " |")
    lines.append("| macro F1 | " + " | ".join(f"{r.get('macro_f1', float('nan')):.4f}" for r in results) + " |")
    lines.append("| n | " + " | ".join(str(r.get("n", "")) for r in results) + " |")
    wins = {
        n: sum(1 for c in classes if r["per_class"][c] == max(x["per_class"][c] for x in results))
        for n, r in zip(names, results, strict=True)
    }
    lines += [
        "",
        "Classes won: " + ", ".join(f"{n} {w}/{len(classes)}" for n, w in wins.items()),
        "",
        "![per-class accuracy](per_class.png)",
        "",
    ]
    atomic_write_text(out / "compare.md", "\n".join(lines))
    atomic_write_json(
        out / "compare.json",
        {
            "models": names,
            "results": [
                {k: r[k] for k in ("model", "split", "tta", "n", "accuracy", "macro_f1", "per_class") if k in r}
                for r in results
            ],
            "classes_won": wins,
        },
    )
    return out / "compare.md"


def _same_images_and_labels(inputs: list[str], results: list[dict]) -> None:
    """Per-class numbers side by side mean something only on the same faces with the same labels:
    results on other label sets (FER-2013's vs FER+'s) or other image counts are refused."""
    seen = [(r.get("labels") or "folder", r.get("n")) for r in results]
    for ref, (labels, n) in zip(inputs[1:], seen[1:], strict=True):
        if (labels, n) != seen[0]:
            raise FerlabError(
                f"{ref}: evaluated with {labels} labels on n={n} images, {inputs[0]} with {seen[0][0]} labels on "
                f"n={seen[0][1]}: compare results on the same images and labels (the same --data, --split, --labels)"
            )
