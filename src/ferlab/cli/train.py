"""`ferlab train`: a run directory from a config; `--resume` continues a killed run."""

from __future__ import annotations

import os
import shlex
import sys

from ferlab.cli.common import HELP_DATA, add_labels_args, at_least_one, parse_sets
from ferlab.errors import FerlabError


def add_parser(sub) -> None:
    t = sub.add_parser("train", help="train a model from a config")
    t.add_argument("--config", help="YAML under configs/")
    t.add_argument("--data", help=HELP_DATA + "; overrides the config's data.path")
    t.add_argument("--epochs", type=at_least_one, help="epochs to train (at least 1); overrides train.epochs")
    t.add_argument("--lr", type=float, help="learning rate; overrides train.lr")
    t.add_argument("--batch-size", type=int, help="batch size; overrides train.batch_size")
    t.add_argument("--seed", type=int, help="random seed; overrides train.seed")
    t.add_argument("--max-minutes", type=float, help="stop after this long, wherever the schedule is")
    t.add_argument("--budget-minutes", type=float, help="fit the epoch count (epochs = the cap) to this wall time")
    t.add_argument("--precision", help="Lightning precision, e.g. bf16-mixed on a GPU")
    t.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="any config value, e.g. train.mixup=0.2"
    )
    t.add_argument("--threads", type=int, help="torch intra-op threads")
    t.add_argument("--limit-train", type=int, help="use a seeded, class-stratified subset of N training images")
    t.add_argument("--limit-val", type=int, help="use a seeded, class-stratified subset of N validation images")
    t.add_argument(
        "--on-device",
        action="store_const",
        const=True,
        help="keep the training set on the training device and draw and augment batches there (GPU: no host work "
        "per step)",
    )
    add_labels_args(t, votes=False)
    t.add_argument("--no-balanced", action="store_true", help="turn off inverse-frequency resampling")
    t.add_argument(
        "--class-weighted-loss",
        action="store_true",
        help="weight the loss by inverse class frequency (instead of resampling)",
    )
    t.add_argument("--name", help="run name (default: the config file's name)")
    t.add_argument("--out", help="run directory (default: runs/NAME-TIMESTAMP)")
    t.add_argument("--runs-root", default="runs", help="folder for new run directories")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue a killed run")
    t.add_argument("--devices", default="1", help="Lightning devices (e.g. 2)")
    t.add_argument("--strategy", default="auto", help="Lightning strategy (e.g. ddp)")
    t.add_argument("--accelerator", default="auto", help="Lightning accelerator: auto, cpu, gpu")
    t.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")
    t.set_defaults(func=run)


def run(args) -> int:
    import shutil

    from ferlab.run_dir import RunDir
    from ferlab.training.config import UNSET, load_config, overrides_from_flags
    from ferlab.training.run import train

    devices = int(args.devices) if str(args.devices).isdigit() else args.devices
    if args.resume:
        run_dir = RunDir(args.resume)
        cfg = run_dir.config()
    else:
        cfg = load_config(
            args.config,
            {
                **overrides_from_flags(args),
                "data.balanced": False if args.no_balanced else UNSET,
                "data.class_weighted_loss": True if args.class_weighted_loss else UNSET,
                **parse_sets(args.set),
            },
        )
        run_dir = RunDir(args.out) if args.out else RunDir.new(cfg["name"], args.runs_root)
        if run_dir.resumable():
            raise FerlabError(f"{run_dir}: already holds a run; use --resume {run_dir} or another --out")
    existed = run_dir.path.exists()
    try:
        train(
            cfg,
            run_dir,
            resume=bool(args.resume),
            devices=devices,
            strategy=args.strategy,
            accelerator=args.accelerator,
            progress=not args.no_progress,
            command=shlex.join(["ferlab", *args.argv]),
        )
    except BaseException:
        # A run that fails before its first checkpoint leaves nothing behind; a later failure
        # leaves a resumable run, and says so.
        if not args.resume and _is_global_zero():
            if run_dir.resumable():
                print(f"ferlab: run {run_dir} is incomplete; continue it with --resume {run_dir}", file=sys.stderr)
            elif not existed:
                shutil.rmtree(run_dir.path, ignore_errors=True)
        raise
    if _is_global_zero():
        summary = run_dir.summary()
        if summary is None:
            raise FerlabError(f"{run_dir}: training stopped before finishing an epoch (no summary.json)")
        best = summary.get("best") or {}
        print(
            f"run {run_dir}: {summary['epochs_completed']}/{summary['epochs_planned']} epochs, best val acc "
            f"{best.get('val_acc', float('nan')):.4f} at epoch {best.get('epoch')}, "
            f"{summary['train_img_per_s_median']} train img/s (median)"
        )
    return 0


def _is_global_zero() -> bool:
    return os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) == "0"
