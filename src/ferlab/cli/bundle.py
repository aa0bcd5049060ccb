"""`ferlab bundle`: evaluate a trained checkpoint and store it as a named model."""

from __future__ import annotations

from pathlib import Path

from ferlab.cli.common import add_labels_args
from ferlab.paths import default_data
from ferlab.tta import TTA_MODES


def add_parser(sub) -> None:
    b = sub.add_parser("bundle", help="evaluate a trained checkpoint and store it as a named bundled model")
    b.add_argument("source", help="run dir or checkpoint")
    b.add_argument("--name", required=True, help="name to bundle under")
    b.add_argument("--data", default=default_data(), help="data whose val split the card reports")
    b.add_argument(
        "--out",
        help="folder (default: your models folder, $FERLAB_MODELS or ~/.local/share/ferlab/models, where names "
        "are found; ferlab's own bundled models are written with --out src/ferlab/weights)",
    )
    b.add_argument(
        "--tta-default", default="none", choices=TTA_MODES, help="test-time augmentation the model ships with"
    )
    b.add_argument(
        "--backend-default", default="torch", choices=["torch", "onnxruntime"], help="engine the model ships with"
    )
    b.add_argument("--int8", action="store_true", help="also ship an int8 onnxruntime model, and use it by default")
    b.add_argument("--no-calibrate", action="store_true", help="ship without a fitted temperature")
    b.add_argument(
        "--base",
        metavar="NAME",
        help="a bundled model this one shares most weights with (e.g. the same network with another last layer): "
        "only the tensors that differ are stored, the rest read from NAME",
    )
    add_labels_args(b, votes=False)
    b.set_defaults(func=run)


def run(args) -> int:
    from ferlab.paths import user_models_dir
    from ferlab.weights_bundle import bundle

    out_dir = Path(args.out) if args.out else user_models_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    out = bundle(
        args.source,
        args.name,
        data=args.data,
        out_dir=out_dir,
        tta=args.tta_default,
        backend=args.backend_default,
        int8=args.int8,
        calibrate=not args.no_calibrate,
        labels=args.labels,
        base=args.base,
    )
    print(f"bundled {args.source} as {args.name}: {out}")
    if not args.out:
        print(f"  use it by name: ferlab predict PHOTO --model {args.name} (stored in {out_dir}; see $FERLAB_MODELS)")
    return 0
