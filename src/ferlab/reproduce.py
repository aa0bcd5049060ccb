"""`ferlab reproduce`: the study's experiments, evaluated and reported, from one command.

Budgets: `smoke` (tiny subsets, minutes on CPU; the CI test), `cpu` (what a 2-core machine does in
a few hours, all on the full training set: the CNNs, the from-scratch ViT, heads on a frozen
pretrained backbone whose features are cached, the fine-tuning pair, and the headline ViT whose top
blocks are unfrozen gradually on cached tokens), `full` (the study's schedule: 224 px, all layers
trainable; for a GPU). Finished experiments are reused and an interrupted one resumes from its last
epoch when the command is re-run.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ferlab.errors import FerlabError
from ferlab.io import atomic_write, atomic_write_json, atomic_write_text
from ferlab.labels import CLASSES
from ferlab.run_dir import RunDir

# The study's configs ship inside the package (the repository's configs/ links here), so
# `ferlab reproduce` runs from an installed wheel as from a checkout.

# The study's published numbers (its section 4.2 and Figure 8's conclusion).
STUDY = {"vit_val_accuracy": 0.6634, "vit_best_val_loss": 0.9520, "happy": 0.8326, "fear": 0.4814, "vit_classes_won": 5}


VIT_STAGES_TITLE = "Pretrained ViT, top blocks unfrozen gradually (cached tokens, mirror images)"


@dataclass
class Experiment:
    key: str
    config: str
    title: str
    overrides: dict = field(default_factory=dict)


def _budget(budget: str, backbone: str | None) -> tuple[list[Experiment], list[float], dict]:
    """The experiments, the sweep's learning rates, and extras: the sweep's overrides, the eval
    limit and `vit`, the experiment that is the study's ViT (chosen before any result is seen)."""
    if budget not in ("smoke", "cpu", "full"):
        raise FerlabError(f"unknown budget {budget!r}; use smoke, cpu or full")
    bb = {"model.config.backbone": backbone} if backbone else {}
    if budget == "smoke":
        tiny = {"data.limit_train": 140, "data.limit_val": 70, "train.epochs": 2}
        vit = {**tiny, **bb, "model.config.image_size": 28}
        fine = {**vit, "train.freeze": {"start": 0, "schedule": {1: 1}}}
        stages = {**fine, "train.augment": {"hflip": True}}
        exps = [
            Experiment("cnn_v1", "cnn_v1.yaml", "CNN V1", tiny),
            Experiment("cnn_v2_1", "cnn_v2_1.yaml", "CNN V2.1", tiny),
            Experiment("vit_scratch", "vit_scratch.yaml", "ViT from scratch (1 encoder level)", tiny),
            Experiment("vit_head3", "vit_pretrained_head3.yaml", "Pretrained ViT, 3-layer head", vit),
            Experiment("vit_head5", "vit_pretrained_head5.yaml", "Pretrained ViT, 5-layer head", vit),
            Experiment("vit_v1_6", "vit_v1_6.yaml", "V1.6: no dropout, backbone trained", vit),
            Experiment("vit_v1_6_7", "vit_v1_6_7.yaml", "V1.6.7: dropout, gradual unfreeze", fine),
            Experiment("vit_stages", "vit_cpu_stages.yaml", VIT_STAGES_TITLE, stages),
        ]
        return exps, [1e-3, 1e-4, 1e-5], {"sweep": vit, "limit_eval": 70, "vit": "vit_stages"}
    if budget == "cpu":
        # Figure 5's pair: the last block fine-tuned on the whole training set, 12 epochs (the study: 24)
        sub = {**bb, "train.epochs": 12, "train.freeze": {"start": 0, "schedule": {4: 1}}}
        exps = [
            Experiment("cnn_v1", "cnn_v1.yaml", "CNN V1"),
            Experiment("cnn_v2_1", "cnn_v2_1.yaml", "CNN V2.1"),
            Experiment("vit_scratch", "vit_scratch.yaml", "ViT from scratch (1 encoder level)"),
            Experiment("vit_head3", "vit_pretrained_head3.yaml", "Pretrained ViT, 3-layer head", bb),
            Experiment("vit_head5", "vit_pretrained_head5.yaml", "Pretrained ViT, 5-layer head", bb),
            Experiment(
                "vit_v1_6",
                "vit_v1_6.yaml",
                "V1.6: no dropout, last block trained from the start",
                {**sub, "train.freeze": {"start": 1}},
            ),
            Experiment("vit_v1_6_7", "vit_v1_6_7.yaml", "V1.6.7: dropout, last block unfrozen at epoch 5", sub),
            Experiment("vit_stages", "vit_cpu_stages.yaml", VIT_STAGES_TITLE, bb),
        ]
        return exps, [1e-3, 1e-4, 1e-5], {"sweep": {**bb, "train.epochs": 12}, "limit_eval": None, "vit": "vit_stages"}
    # the whole training set kept on the training device (the ViT resizes 48 → 224 px there), bf16
    # where the GPU has it
    full = {**bb, "model.config.image_size": 224, "train.feature_cache": False, "data.on_device": True}
    full |= _gpu_precision()
    exps = [
        Experiment("cnn_v1", "cnn_v1.yaml", "CNN V1"),
        Experiment("cnn_v2_1", "cnn_v2_1.yaml", "CNN V2.1"),
        Experiment("vit_scratch", "vit_scratch.yaml", "ViT from scratch (1 encoder level)"),
        Experiment(
            "vit_head3", "vit_pretrained_head3.yaml", "Pretrained ViT, 3-layer head", {**full, "train.freeze": None}
        ),
        Experiment(
            "vit_head5", "vit_pretrained_head5.yaml", "Pretrained ViT, 5-layer head", {**full, "train.freeze": None}
        ),
        Experiment("vit_v1_6", "vit_v1_6.yaml", "V1.6: no dropout, unfrozen", {**full, "train.freeze": None}),
        Experiment(
            "vit_v1_6_7",
            "vit_v1_6_7.yaml",
            "V1.6.7: dropout, gradual unfreeze",
            {**full, "train.freeze": {"start": 0, "schedule": {4: 2, 8: 4, 12: 8, 16: 12}}},
        ),
    ]
    extra = {"sweep": {**full, "train.freeze": None}, "limit_eval": None, "vit": "vit_v1_6_7"}
    return exps, [1e-3, 1e-4, 1e-5], extra


def _gpu_precision() -> dict:
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return {"train.precision": "bf16-mixed"}
    return {}


def _config(name: str, data: str, overrides: dict) -> dict:
    from ferlab.training.config import SHIPPED_CONFIGS, load_config

    path = SHIPPED_CONFIGS / name
    if not path.is_file():
        raise FerlabError(f"{path}: study config not found (the ferlab installation is incomplete)")
    return load_config(path, {"data.path": data, **overrides})


def _evaluate(run_dir: Path, data, split: str, cfg: dict, limit: int | None) -> dict:
    """Evaluate a run's best checkpoint; a frozen-bottom ViT reuses its feature cache."""
    from ferlab.checkpoint import load_model
    from ferlab.evaluation.metrics import compute_metrics, predict_probs
    from ferlab.models.feature_cache import cached_hidden
    from ferlab.paths import cache_dir
    from ferlab.training.config import cached_block

    model, card = load_model(run_dir)
    # a smoke budget evaluates a seeded subset stratified across classes (never the first N: sorted
    # by class, those would all be one class); every model sees the same images
    sp = data.split(split).limited(limit, seed=0)
    t = cfg["train"]
    if t.get("feature_cache") and t.get("freeze") and hasattr(model, "blocks"):
        start = cached_block(t["freeze"], len(model.blocks))
        hidden, _ = cached_hidden(model, sp.images, start, cache_dir() / "features")
        with torch.inference_mode():
            probs = torch.cat([model.forward_from(h.float(), start).softmax(1) for h in torch.split(hidden, 256)])
    else:
        probs = predict_probs(model, card, sp.images)
    return {
        "model": card["name"],
        "checkpoint": card["_path"],
        "split": split,
        "tta": False,
        **compute_metrics(probs, sp.labels),
        "_probs": probs,
        "_labels": sp.labels,
        "_depth": len(model.blocks) if hasattr(model, "blocks") else None,
    }


def reproduce(
    data_path: str,
    budget: str,
    out: Path,
    *,
    backbone: str | None = None,
    progress: bool = True,
    overrides: dict | None = None,
    limit_eval: int | None = None,
) -> Path:
    """overrides: config values set in every experiment after the budget's own (e.g. a time
    budget per run for a GPU window, or a tiny dry run). limit_eval: evaluate on a seeded
    class-stratified subset of N images instead of the whole split."""
    from ferlab.data import load_fer2013
    from ferlab.data.summary import summarize
    from ferlab.figures import plot_class_distribution
    from ferlab.measure import machine_info
    from ferlab.models.ensemble import fit_weights
    from ferlab.training.sweep import run_or_reuse

    exps, lrs, extra = _budget(budget, backbone)
    if overrides:
        exps = [Experiment(e.key, e.config, e.title, {**e.overrides, **overrides}) for e in exps]
        extra["sweep"] = {**extra["sweep"], **overrides}
    if limit_eval:
        extra["limit_eval"] = limit_eval
    out.mkdir(parents=True, exist_ok=True)
    figs = out / "figures"
    figs.mkdir(exist_ok=True)
    data = load_fer2013(data_path)
    has_test = "test" in data.splits and len(data.splits["test"]) > 0
    timing_file = out / "timings.json"
    timings = json.loads(timing_file.read_text()) if timing_file.exists() else {}

    def timed(key: str, fn, run_dir: Path | None = None):
        finished = run_dir is not None and RunDir(run_dir).finished()
        t0 = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - t0
        if not finished:
            timings[key] = {"seconds": round(elapsed, 1)}
        elif key not in timings:  # made elsewhere by the same config: its own training time
            s = RunDir(run_dir).summary()
            timings[key] = {"seconds": s["train_seconds_total"], "note": "reused run: its training time"}
        atomic_write_json(timing_file, timings)
        return result

    summary = summarize(data)
    atomic_write(
        figs / "fig1_class_distribution.png", lambda tmp: plot_class_distribution(summary["splits"], tmp, fmt="png")
    )
    runs: dict[str, Path] = {}
    cfgs: dict[str, dict] = {}
    for e in exps:
        cfg = _config(e.config, data_path, e.overrides)
        cfgs[e.key] = cfg
        print(f"== {e.key}: {e.title}", flush=True)
        runs[e.key] = timed(
            e.key,
            lambda cfg=cfg, e=e: run_or_reuse(
                cfg, out / "runs" / e.key, progress=progress, command=f"ferlab reproduce --budget {budget}"
            ),
            out / "runs" / e.key,
        )
    sweep_dir = out / "runs" / "lr_sweep"
    sweep_runs = {}
    for lr in lrs:
        cfg = _config("vit_pretrained_head5.yaml", data_path, {**extra["sweep"], "train.lr": lr})
        cfg["name"] = f"vit_head5_lr{lr:g}"
        print(f"== lr sweep: {lr:g}", flush=True)
        sweep_runs[lr] = timed(
            f"lr_{lr:g}",
            lambda cfg=cfg, lr=lr: run_or_reuse(
                cfg, sweep_dir / f"lr_{lr:g}", progress=progress, command=f"ferlab reproduce --budget {budget}"
            ),
            sweep_dir / f"lr_{lr:g}",
        )

    _loss_figures(figs, runs, sweep_runs)

    splits = ["val", *(["test"] if has_test else [])]
    evals: dict[str, dict[str, dict]] = {s: {} for s in splits}
    for s in splits:
        for key, d in runs.items():
            evals[s][key] = timed(
                f"eval_{key}_{s}", lambda d=d, key=key, s=s: _evaluate(d, data, s, cfgs[key], extra["limit_eval"])
            )
    # the study's ViT is the budget's named experiment (not the best on val: that would be chosen
    # on the split it is reported on); the ensemble pairs it with CNN V2.1
    vit_key = extra["vit"]
    members = ["cnn_v2_1", vit_key]
    val_probs = torch.stack([evals["val"][k]["_probs"] for k in members])
    weights = fit_weights(val_probs, evals["val"]["cnn_v2_1"]["_labels"])
    ens_evals = _ensembles(evals, splits, members, weights)
    # a real ensemble checkpoint (self-contained), with the equal weights that were not tuned on val
    _save_ensemble(out, runs, members, [0.5, 0.5])

    compare = _comparison_figures(figs, evals, ens_evals, vit_key)

    clean = lambda r: {k: v for k, v in r.items() if not k.startswith("_")}
    titles = {e.key: e.title for e in exps}
    results = {
        "budget": budget,
        "data": data_path,
        "notes": data.notes,
        "machine": machine_info(),
        "tta": False,
        "timings": timings,
        "vit": {
            "key": vit_key,
            "title": titles[vit_key],
            **vit_training(runs[vit_key], cfgs[vit_key], evals["val"][vit_key]["_depth"]),
            "val": clean(evals["val"][vit_key]),
        },
        "evals": {s: {k: clean(v) for k, v in ev.items()} for s, ev in evals.items()},
        "ensembles": ens_evals,
        "study": STUDY,
    }
    atomic_write_json(out / "results.json", results)
    report = _report(results, exps, runs, sweep_runs, compare, out)
    atomic_write_text(out / "report.md", report)
    return out / "report.md"


def vit_training(run_dir: Path, cfg: dict, depth: int | None) -> dict:
    """What a ViT run trained, for a reader planning their own: resolution, images, each unfreezing
    stage's epochs, blocks and median seconds per epoch, and what its feature cache cost."""
    from statistics import median

    run = RunDir(run_dir)
    metrics, summary = run.metrics(), run.summary() or {}
    fz = cfg["train"].get("freeze")
    depth = depth or 0
    schedule = (
        {0: int(fz["start"]), **{int(k): int(v) for k, v in (fz["schedule"] or {}).items()}} if fz else {0: depth}
    )
    bounds = sorted(schedule)
    stages = []
    for i, first in enumerate(bounds):
        last = bounds[i + 1] if i + 1 < len(bounds) else len(metrics)
        if first >= len(metrics):
            break
        k = min(schedule[first], depth)
        stages.append(
            {
                "epochs": [first + 1, last],
                "blocks": f"{depth - k + 1}-{depth}" if k else "none (head only)",
                "seconds_per_epoch": round(median(float(m["train_seconds"]) for m in metrics[first:last]), 1),
            }
        )
    cache = run.path / "feature_cache.json"
    return {
        "backbone": (cfg["model"].get("config") or {}).get("backbone"),
        "resolution": (cfg["model"].get("config") or {}).get("image_size"),
        "train_images": cfg["data"].get("limit_train") or "all",
        "hflip": bool((cfg["train"].get("augment") or {}).get("hflip")),
        "epochs": len(metrics),
        "best_epoch": (summary.get("best") or {}).get("epoch"),
        "train_seconds": summary.get("train_seconds_total"),
        "stages": stages,
        "feature_cache": json.loads(cache.read_text()) if cache.is_file() else None,
    }


def _vit_lines(v: dict) -> list[str]:
    """The report's account of how the study's ViT was trained here and what it cost."""
    lines = [
        "",
        f"The ViT above is `{v['key']}` ({v['title']}): `{v['backbone']}` at {v['resolution']} px, "
        f"{v['train_images']} training images{', each also as its mirror image' if v['hflip'] else ''}, "
        f"best epoch {v['best_epoch']} of {v['epochs']} (the study: ViT-B/16 at 224 px, every layer fine-tuned).",
        "",
        "| stage | epochs | blocks trained | seconds per epoch (median) |",
        "|---|---|---|---:|",
        *(
            f"| {i} | {st['epochs'][0]}-{st['epochs'][1]} | {st['blocks']} | {st['seconds_per_epoch']:.0f} |"
            for i, st in enumerate(v["stages"], start=1)
        ),
        "",
    ]
    fc = v.get("feature_cache")
    if fc:
        parts = []
        for name, sp in fc["splits"].items():
            built = [x for x in sp["build_seconds"] if x is not None]
            how = f"built in {sum(built):.0f} s" if built else "read from an earlier run's cache"
            if built and len(built) < sp["views"]:
                how += f" (the {'mirror images' if sp['build_seconds'][0] is None else 'faces'}; the rest read back)"
            views = " (face and mirror image)" if sp["views"] == 2 else ""
            parts.append(f"{name}: {sp['images']} images{views}, {sp['bytes'] / 1e9:.2f} GB, {how}")
        lines += [
            f"Blocks 1-{fc['block']} are frozen throughout; their output is cached: " + "; ".join(parts) + ".",
            "",
        ]
    if v.get("train_seconds"):
        lines += [f"Training took {v['train_seconds'] / 60:.0f} min in all.", ""]
    return lines


def _loss_figures(figs: Path, runs: dict[str, Path], sweep_runs: dict[float, Path]) -> None:
    """Figures 3 (the CNNs), 4 (the learning-rate sweep) and 5 (V1.6 vs V1.6.7) from the runs' metrics."""
    from ferlab.figures import plot_loss_curves

    curves = lambda d: RunDir(d).metrics()
    atomic_write(
        figs / "fig3_cnn_loss_curves.png",
        lambda tmp: plot_loss_curves(
            {"CNN V1": curves(runs["cnn_v1"]), "CNN V2.1": curves(runs["cnn_v2_1"])},
            tmp,
            "Figure 3: CNN loss curves",
            fmt="png",
        ),
    )
    atomic_write(
        figs / "fig4_lr_sweep.png",
        lambda tmp: plot_loss_curves(
            {f"lr = {lr:g}": curves(d) for lr, d in sweep_runs.items()},
            tmp,
            "Figure 4: initial learning rate",
            fmt="png",
        ),
    )
    atomic_write(
        figs / "fig5_freeze.png",
        lambda tmp: plot_loss_curves(
            {
                "V1.6 (no dropout, trained backbone)": curves(runs["vit_v1_6"]),
                "V1.6.7 (dropout, gradual unfreeze)": curves(runs["vit_v1_6_7"]),
            },
            tmp,
            "Figure 5",
            fmt="png",
        ),
    )


def _ensembles(evals: dict, splits: list[str], members: list[str], weights: list[float]) -> dict:
    """The CNN+ViT ensemble on each split: equal weights (the honest number) and fitted ones."""
    from ferlab.evaluation.metrics import compute_metrics

    ens_evals = {}
    for s in splits:
        labels = evals[s]["cnn_v2_1"]["_labels"]
        for name, w in (("ensemble_equal", [0.5, 0.5]), ("ensemble_fitted", weights)):
            p = sum(wi * evals[s][k]["_probs"] for wi, k in zip(w, members, strict=True))
            ens_evals.setdefault(s, {})[name] = {
                "model": name,
                "split": s,
                "tta": False,
                **compute_metrics(p, labels),
                "weights": dict(zip(members, w, strict=True)),
            }
    return ens_evals


def _comparison_figures(figs: Path, evals: dict, ens_evals: dict, vit_key: str) -> dict:
    """Figure 6 (the ViT's confusion) and Figure 8 (per-class accuracy side by side); the compared results."""
    from ferlab.figures import plot_confusion, plot_per_class

    atomic_write(
        figs / "fig6_confusion_vit.png",
        lambda tmp: plot_confusion(
            evals["val"][vit_key]["confusion"],
            tmp,
            f"Figure 6: {vit_key} on val (acc {evals['val'][vit_key]['accuracy']:.3f})",
            fmt="png",
        ),
    )
    compare = {
        "CNN V1": evals["val"]["cnn_v1"],
        "CNN V2.1": evals["val"]["cnn_v2_1"],
        "ViT scratch": evals["val"]["vit_scratch"],
        f"ViT ({vit_key})": evals["val"][vit_key],
        "Ensemble (equal weights)": ens_evals["val"]["ensemble_equal"],
    }
    atomic_write(
        figs / "fig8_per_class.png",
        lambda tmp: plot_per_class(
            {k: v["per_class"] for k, v in compare.items()}, tmp, "Figure 8: per-class accuracy on val", fmt="png"
        ),
    )
    return compare


def _save_ensemble(out: Path, runs: dict, members: list[str], weights: list[float]) -> None:
    from ferlab.checkpoint import save_checkpoint
    from ferlab.ensembling import build_ensemble

    model, card = build_ensemble([str(runs[k]) for k in members])
    model.weights.copy_(torch.tensor(weights) / sum(weights))
    card["arch_config"]["weights"] = model.weights.tolist()
    card["training"]["weights"] = "equal (nothing tuned on val)"
    save_checkpoint(model, card, out / "ensemble")


def _report(res: dict, exps, runs, sweep_runs, compare: dict, out: Path) -> str:
    ev = res["evals"]["val"]
    m = res["machine"]
    titles = {e.key: e.title for e in exps}
    lines = [
        f"# Reproduction of the study — budget `{res['budget']}`",
        "",
        f"Data: `{res['data']}`; " + "; ".join(res["notes"]) + ".",
        f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}, "
        f"{'GPU ' + m['gpu'] if m['gpu'] else 'CPU only'}. Test-time augmentation: **off** for every number.",
        "",
        "## Experiments (val = PublicTest)",
        "",
        *(
            [
                f"> **Smoke budget: this checks the plumbing, not accuracy.** Each model trained for minutes on a "
                f"subset and each number rests on {next(iter(ev.values()))['n']} validation images; do not set them "
                "beside the study's (which trained for hours on all 28,709 images and evaluated 3,589).",
                "",
            ]
            if res["budget"] == "smoke"
            else [f"Each number rests on {next(iter(ev.values()))['n']} validation images.", ""]
        ),
        "| experiment | config | val accuracy | macro F1 | best epoch / epochs | wall time |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for key, d in runs.items():
        s = RunDir(d).summary()
        t = res["timings"].get(key, {}).get("seconds")
        lines.append(
            f"| {titles[key]} | `{key}` | {ev[key]['accuracy']:.4f} | {ev[key]['macro_f1']:.4f} | "
            f"{(s.get('best') or {}).get('epoch')} / {s['epochs_completed']} | "
            f"{f'{t / 60:.1f} min' if t else 'reused'} |"
        )
    for name, e in res["ensembles"]["val"].items():
        w = ", ".join(f"{k} {v:.2f}" for k, v in e["weights"].items())
        kind = name.split("_")[1]
        # fitted weights are chosen on these same val images: that row is optimistic, and says so
        note = (
            " (weights fitted on these same images: optimistic)"
            if kind == "fitted"
            else " (nothing tuned on val: the honest number)"
        )
        lines.append(
            f"| Ensemble, {kind} weights ({w}){note} | — | {e['accuracy']:.4f} | {e['macro_f1']:.4f} | — | — |"
        )
    lines += [
        "",
        "Learning-rate sweep (5-layer head):",
        "",
        "| lr | best val accuracy | final train loss |",
        "|---|---:|---:|",
    ]
    for lr, d in sweep_runs.items():
        s = RunDir(d).summary()
        lines.append(
            f"| {lr:g} | {(s.get('best') or {}).get('val_acc', float('nan')):.4f} | {s['last']['train_loss']:.4f} |"
        )
    vit_key = res["vit"]["key"]
    vit = ev[vit_key]
    cnn = ev["cnn_v2_1"]
    won = sum(vit["per_class"][c] > cnn["per_class"][c] for c in CLASSES)
    cnn_disgust = cnn["per_class"]["disgust"]
    st = res["study"]
    lines += [
        "",
        "## Against the study's published numbers",
        "",
        "| quantity | study | here |",
        "|---|---:|---:|",
        f"| ViT validation accuracy | {st['vit_val_accuracy']:.4f} | {vit['accuracy']:.4f} ({vit_key}) |",
        f"| ViT best validation loss | {st['vit_best_val_loss']:.4f} | {vit['loss']:.4f} |",
        f"| ViT per-class: happy | {st['happy']:.4f} | {vit['per_class']['happy']:.4f} |",
        f"| ViT per-class: fear | {st['fear']:.4f} | {vit['per_class']['fear']:.4f} |",
        f"| classes where ViT beats CNN V2.1 | {st['vit_classes_won']} of 7 | {won} of 7 |",
        f"| CNN ahead on disgust | yes | {'yes' if cnn_disgust > vit['per_class']['disgust'] else 'no'} |",
        "",
        *_vit_lines(res["vit"]),
        "Per-class accuracy on val:",
        "",
        "| class | " + " | ".join(compare) + " |",
        "|---|" + "---:|" * len(compare),
    ]
    for c in CLASSES:
        lines.append(f"| {c} | " + " | ".join(f"{r['per_class'][c]:.4f}" for r in compare.values()) + " |")
    lines += ["", "## Figures", ""]
    for f, cap in (
        ("fig1_class_distribution.png", "Figure 1: class frequency"),
        ("fig3_cnn_loss_curves.png", "Figure 3: CNN V1 vs V2.1 loss curves"),
        ("fig4_lr_sweep.png", "Figure 4: learning rates 1e-3, 1e-4, 1e-5"),
        ("fig5_freeze.png", "Figure 5: V1.6 vs V1.6.7"),
        ("fig6_confusion_vit.png", "Figure 6: the ViT's confusion matrix"),
        ("fig8_per_class.png", "Figure 8: per-class accuracy of each model"),
    ):
        lines += [f"![{cap}](figures/{f})", ""]
    lines += ["Reproduce: `ferlab reproduce --data DATA --budget " + res["budget"] + f" --out {out}`", ""]
    return "\n".join(lines)
