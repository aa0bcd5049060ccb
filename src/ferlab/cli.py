"""The `ferlab` command. Each subcommand is a thin call into the modules; errors meant for the
user (FerlabError) print one line and exit with code 2, never a traceback.

argparse rather than Typer: stdlib, starts fast, and gives full control of the exit codes
and one-line errors this CLI promises.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

from ferlab.errors import FerlabError

DEFAULT_DATA = os.environ.get("FERLAB_DATA", "../shared/data/fer2013-no-private.zip")


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2))


# ----------------------------------------------------------------------------- data


def cmd_data_summary(args) -> int:
    from ferlab.data import load_fer2013
    from ferlab.data.summary import format_summary, summarize

    s = summarize(load_fer2013(args.path, strict=args.strict))
    if args.plot:
        from ferlab.figures import plot_class_distribution
        from ferlab.io import atomic_write

        atomic_write(
            args.plot,
            lambda tmp: plot_class_distribution(s["splits"], tmp, fmt=Path(args.plot).suffix.lstrip(".") or "png"),
        )
    if args.json:
        _print_json(s)
    else:
        print(format_summary(s))
        if args.plot:
            print(f"  class distribution figure: {args.plot}")
    return 0


# ----------------------------------------------------------------------------- models


def cmd_models(args) -> int:
    from ferlab.checkpoint import DEFAULT_MODEL, bundled_models, read_card
    from ferlab.models import available, build, count_parameters

    archs = [
        {
            "name": e.name,
            "parameters": count_parameters(build(e.name)),
            "description": e.description,
            "defaults": e.defaults(),
        }
        for e in available()
    ]
    bundled = []
    for name in bundled_models():
        card = read_card(name)
        bundled.append(
            {
                "name": name,
                "architecture": card["architecture"],
                "parameters": card.get("parameters"),
                "val_accuracy": card.get("metrics", {}).get("val_accuracy"),
                "default": name == DEFAULT_MODEL,
            }
        )
    if args.json:
        _print_json({"architectures": archs, "bundled": bundled})
        return 0
    print("Architectures:")
    for a in archs:
        print(f"  {a['name']:<16} {a['parameters']:>12,} params  {a['description']}")
    print("Bundled models:")
    for b in bundled:
        acc = f"val acc {b['val_accuracy']:.4f}" if b["val_accuracy"] is not None else ""
        print(f"  {b['name']:<16} {b['architecture']:<12} {acc}{'  (default)' if b['default'] else ''}")
    if not bundled:
        print("  (none)")
    return 0


def cmd_info(args) -> int:
    from ferlab.checkpoint import read_card

    card = read_card(args.model)
    if args.json:
        _print_json(card)
        return 0
    m = card.get("metrics", {})
    print(f"model {card['name']} ({card['architecture']}, {card.get('parameters', 0):,} parameters)")
    print(f"  file: {card['_path']}")
    print(f"  classes: {', '.join(card['classes'])}")
    print(
        f"  input: {card['input']['size']}x{card['input']['size']} gray, mean {card['input']['mean']},"
        f" std {card['input']['std']}"
    )
    for k, v in m.items():
        if k != "per_class":
            print(f"  {k}: {v}")
    if "per_class" in m:
        print("  per class: " + ", ".join(f"{c} {v:.3f}" for c, v in m["per_class"].items()))
    tr = card.get("training", {})
    print(f"  trained on {tr.get('data')} ({tr.get('epochs')} epochs), selected on {tr.get('selection_split')}")
    print(f"  created {card.get('created')} by: {tr.get('command') or card.get('command')}")
    return 0


# ----------------------------------------------------------------------------- train


def cmd_train(args) -> int:
    from ferlab.training.config import load_config
    from ferlab.training.run import new_run_dir, resume_config, run_training

    command = shlex.join(["ferlab", *args.argv])
    if args.resume:
        run_dir = Path(args.resume)
        cfg = resume_config(run_dir)
        resume = True
    else:
        cfg = load_config(
            args.config,
            {
                "train.epochs": args.epochs,
                "train.lr": args.lr,
                "train.batch_size": args.batch_size,
                "train.seed": args.seed,
                "train.max_minutes": args.max_minutes,
                "data.path": args.data,
                "data.limit_train": args.limit_train,
                "data.limit_val": args.limit_val,
                "data.balanced": False if args.no_balanced else None,
                "data.class_weighted_loss": True if args.class_weighted_loss else None,
                "train.threads": args.threads,
                "name": args.name,
            },
        )
        run_dir = Path(args.out) if args.out else new_run_dir(cfg, args.runs_root)
        if (run_dir / "checkpoints" / "last.ckpt").exists():
            raise FerlabError(f"{run_dir}: already holds a run; use --resume {run_dir} or another --out")
        resume = False
    run_training(
        cfg,
        run_dir,
        resume=resume,
        devices=args.devices,
        strategy=args.strategy,
        accelerator=args.accelerator,
        progress=not args.no_progress,
        command=command,
    )
    if _is_global_zero():
        summary = json.loads((run_dir / "summary.json").read_text())
        best = summary.get("best") or {}
        print(
            f"run {run_dir}: {summary['epochs_completed']}/{summary['epochs_planned']} epochs, best val acc "
            f"{best.get('val_acc', float('nan')):.4f} at epoch {best.get('epoch')}, "
            f"{summary['train_img_per_s_median']} train img/s (median)"
        )
    return 0


def _is_global_zero() -> bool:
    return os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) == "0"


# ----------------------------------------------------------------------------- evaluate / compare


def evaluate_to_dict(model_ref: str | None, data_path: str, split: str, tta: bool) -> dict:
    from ferlab.checkpoint import load_model
    from ferlab.data import load_fer2013
    from ferlab.evaluation import evaluate_model

    model, card = load_model(model_ref)
    data = load_fer2013(data_path)
    sp = data.split(split)
    res = evaluate_model(model, card, sp.images, sp.labels, tta=tta)
    return {
        "model": card["name"],
        "checkpoint": card["_path"],
        "architecture": card["architecture"],
        "data": str(data_path),
        "split": split,
        "tta": tta,
        **res,
    }


def cmd_evaluate(args) -> int:
    from ferlab.io import atomic_write, atomic_write_json

    res = evaluate_to_dict(args.model, args.data, args.split, args.tta)
    if args.plot:
        from ferlab.figures import plot_confusion

        title = f"{res['model']} on {args.split} (n={res['n']}, acc {res['accuracy']:.3f}{', TTA' if args.tta else ''})"
        atomic_write(
            args.plot,
            lambda tmp: plot_confusion(res["confusion"], tmp, title, fmt=Path(args.plot).suffix.lstrip(".") or "png"),
        )
    if args.out:
        atomic_write_json(args.out, res)
    if args.json:
        _print_json(res)
        return 0
    print(
        f"{res['model']} on {args.split} of {args.data}: n={res['n']}, accuracy {res['accuracy']:.4f}, "
        f"macro F1 {res['macro_f1']:.4f}, TTA {'on' if args.tta else 'off'}"
    )
    for c, v in res["per_class"].items():
        print(f"  {c:<9} {v:.4f}  (n={res['support'][c]})")
    return 0


def cmd_compare(args) -> int:
    from ferlab.evaluation.compare import compare

    out = compare(args.inputs, Path(args.out), data=args.data, split=args.split)
    print(out.read_text())
    return 0


# ----------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ferlab", description="Facial emotion recognition on FER-2013.")
    p.add_argument("--version", action="version", version=f"ferlab {__import__('ferlab').__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("data", help="inspect FER-2013 copies").add_subparsers(dest="data_command", required=True)
    s = d.add_parser("summary", help="counts per split and class, duplicates, defects")
    s.add_argument("path", help="Kaggle folder or .zip, or fer2013.csv")
    s.add_argument("--json", action="store_true")
    s.add_argument("--plot", metavar="FILE", help="write the class-distribution figure (study Figure 1)")
    s.add_argument("--strict", action="store_true", help="unreadable images are errors, not skipped")
    s.set_defaults(func=cmd_data_summary)

    m = sub.add_parser("models", help="registered architectures and bundled models")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=cmd_models)

    i = sub.add_parser("info", help="show a model's card (default: the bundled default model)")
    i.add_argument("--model", default=None)
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_info)

    t = sub.add_parser("train", help="train a model from a config")
    t.add_argument("--config", help="YAML under configs/")
    t.add_argument("--data")
    t.add_argument("--epochs", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--seed", type=int)
    t.add_argument("--max-minutes", type=float)
    t.add_argument("--threads", type=int, help="torch intra-op threads")
    t.add_argument("--limit-train", type=int, help="use a seeded subset of N training images")
    t.add_argument("--limit-val", type=int)
    t.add_argument("--no-balanced", action="store_true", help="turn off inverse-frequency resampling")
    t.add_argument("--class-weighted-loss", action="store_true")
    t.add_argument("--name")
    t.add_argument("--out", help="run directory (default: runs/NAME-TIMESTAMP)")
    t.add_argument("--runs-root", default="runs")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue a killed run")
    t.add_argument("--devices", default="1", help="Lightning devices (e.g. 2)")
    t.add_argument("--strategy", default="auto", help="Lightning strategy (e.g. ddp)")
    t.add_argument("--accelerator", default="auto")
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="accuracy, per-class accuracy, macro F1, confusion")
    e.add_argument("--model", default=None, help="checkpoint path, run dir or bundled name (default: bundled)")
    e.add_argument("--data", default=DEFAULT_DATA)
    e.add_argument("--split", default="val", choices=["train", "val", "test"])
    e.add_argument("--tta", action="store_true", help="average with the mirrored face")
    e.add_argument("--json", action="store_true")
    e.add_argument("--plot", metavar="FILE", help="write the confusion figure (study Figure 6)")
    e.add_argument("--out", metavar="FILE", help="also write the JSON here")
    e.set_defaults(func=cmd_evaluate)

    c = sub.add_parser("compare", help="per-class accuracy of several models side by side")
    c.add_argument("inputs", nargs="+", help="evaluation JSON files, run dirs or checkpoints")
    c.add_argument("--out", required=True)
    c.add_argument("--data", default=DEFAULT_DATA, help="data for inputs that need evaluating")
    c.add_argument("--split", default="val")
    c.set_defaults(func=cmd_compare)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    if getattr(args, "devices", None) and str(args.devices).isdigit():
        args.devices = int(args.devices)
    try:
        return args.func(args)
    except FerlabError as e:
        print(f"ferlab: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("ferlab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
