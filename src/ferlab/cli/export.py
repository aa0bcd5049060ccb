"""`ferlab export`: a model as ONNX, its card in the model's metadata."""

from __future__ import annotations

from ferlab.cli.common import add_model_arg


def add_parser(sub) -> None:
    xp = sub.add_parser("export", help="export a model to ONNX, its card as metadata")
    add_model_arg(xp)
    xp.add_argument("--onnx", required=True, metavar="OUT.onnx", help="ONNX file to write")
    xp.set_defaults(func=run)


def run(args) -> int:
    from ferlab.checkpoint import load_model
    from ferlab.runtime.onnx import export_onnx

    model, card = load_model(args.model)
    out = export_onnx(model, card, args.onnx)
    print(f"exported {card['name']} to {out} (card in the model metadata)")
    return 0
