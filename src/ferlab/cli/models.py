"""`ferlab models`: registered architectures and bundled models."""

from __future__ import annotations

from ferlab.cli.common import print_json


def add_parser(sub) -> None:
    m = sub.add_parser("models", help="registered architectures and bundled models")
    m.add_argument("--json", action="store_true", help="print the result as JSON")
    m.set_defaults(func=run)


def run(args) -> int:
    from ferlab.catalogue import catalogue

    cat = catalogue()
    archs, bundled = cat["architectures"], cat["bundled"]
    if args.json:
        print_json(cat)
        return 0
    print("Architectures:" if archs is not None else "Architectures: (install 'ferlab[train]' to list and train them)")
    for a in archs or []:
        count = f"{a['parameters']:>12,} params" if a["parameters"] is not None else f"{'—':>12} params"
        print(f"  {a['name']:<16} {count}  {a['description']}")
        if a["parameters_note"]:
            print(f"  {'':<16} {'':>19} parameters: {a['parameters_note']}")
    print("Bundled models:")
    for b in bundled:
        acc = (
            f"PublicTest acc {b['val_accuracy']:.4f} ({b['evaluated_with']} labels, as shipped: TTA {b['tta']})"
            if b["val_accuracy"]
            else ""
        )
        print(
            f"  {b['name']:<22} {b['architecture']:<10} learned {b['labels_learned']:<17} {acc}"
            + ("  (default)" if b["default"] else "")
            + (f"  ({len(b['classes'])} classes, with contempt: --classes 8)" if len(b["classes"]) == 8 else "")
        )
    if not bundled:
        print("  (none)")
    elif any(b["default"] for b in bundled):
        from ferlab.card import DEFAULT_MODEL, DEFAULT_REASON, OPTIONS_NOTE

        print(f"Why {DEFAULT_MODEL} is the default: {DEFAULT_REASON}")
        print(f"Other collections: {OPTIONS_NOTE}")
    return 0
