"""`ferlab evaluate`: a model as it ships, on a FER-2013 split or a labelled image folder."""

from __future__ import annotations

import sys
from pathlib import Path

from ferlab.cli.common import HELP_DATA, add_labels_args, print_json
from ferlab.cli.recognition import add_recognizer_args, options_from_args
from ferlab.paths import default_data


def add_parser(sub) -> None:
    e = sub.add_parser("evaluate", help="accuracy, per-class accuracy, macro F1, confusion")
    e.add_argument(
        "--data",
        default=default_data(),
        help=HELP_DATA + "; or any labelled image folder <root>/<class>/<image> (class aliases understood)",
    )
    e.add_argument(
        "--split",
        default="val",
        choices=["train", "val", "test"],
        help="val = PublicTest, test = PrivateTest, train = Training",
    )
    add_recognizer_args(e)
    e.add_argument(
        "--detect",
        action="store_true",
        help="labelled image folder: run the whole pipeline (detect, align, classify the largest face) "
        "instead of taking each image as a face crop",
    )
    e.add_argument("--json", action="store_true", help="print the result as JSON")
    e.add_argument("--plot", metavar="FILE", help="write the confusion figure (study Figure 6)")
    e.add_argument("--out", metavar="FILE", help="also write the JSON here")
    add_labels_args(e)
    e.set_defaults(func=run)


def run(args) -> int:
    from ferlab.evaluation.evaluate import evaluate_ref
    from ferlab.io import atomic_write, atomic_write_json

    res = evaluate_ref(
        args.model,
        args.data,
        args.split,
        options=options_from_args(args),
        detect=args.detect,
        progress=not args.json,
        labels=args.labels,
        votes=args.votes,
    )
    if args.plot:
        from ferlab.figures import plot_confusion

        tta = f", TTA {res['tta']}" if res["tta"] != "none" else ""
        where = args.split if res["split"] != "folder" else Path(args.data).name
        title = f"{res['model']} on {where} (n={res['n']}, acc {res['accuracy']:.3f}{tta})"
        atomic_write(
            args.plot,
            lambda tmp: plot_confusion(res["confusion"], tmp, title, fmt=Path(args.plot).suffix.lstrip(".") or "png"),
        )
    if args.out:
        atomic_write_json(args.out, res)
    if res.get("warning"):
        print(f"ferlab: warning: {res['warning']}", file=sys.stderr)
    if args.json:
        print_json(res)
    elif res["split"] == "folder":
        _print_folder(res, args.data)
    else:
        _print_split(res, args.data, args.split)
    return 0


def _print_folder(res: dict, data: str) -> None:
    print(
        f"{res['model']} on {data} ({res['mode']}): {res['images']} images, {res['n']} classified, "
        f"{res['no_face']} without a face found, {res['unreadable']} unreadable; skipped class folders: "
        + (", ".join(f"{k} ({v})" for k, v in res["skipped_classes"].items()) or "none")
    )
    print(
        f"  accuracy {res['accuracy']:.4f} (over all readable images {res['accuracy_all_images']:.4f}), "
        f"balanced accuracy {res['balanced_accuracy']:.4f}, macro F1 {res['macro_f1']:.4f}, TTA {res['tta']}"
    )
    for c, v in res["per_class"].items():
        if res["support"][c]:
            print(f"  {c:<9} {v:.4f}  (n={res['support'][c]})")


def _print_split(res: dict, data: str, split: str) -> None:
    print(
        f"{res['model']} on {split} of {data} ({res['labels']} labels): n={res['n']}, "
        f"accuracy {res['accuracy']:.4f}, macro F1 {res['macro_f1']:.4f}, TTA {res['tta']}, "
        f"{res['backend']} {res['precision']}"
    )
    if res["train_duplicates"] is not None:
        print(
            f"  without the {res['train_duplicates']} images pixel-identical to a training image: "
            f"n={res['n_without_train_duplicates']}, accuracy {res['accuracy_without_train_duplicates']:.4f}"
        )
    if res["label_counts"]:
        lc = res["label_counts"]
        print(
            f"  FER+ labels: {lc['kept']} of {lc['images']} images kept; skipped {lc['no_usable_label']} with no "
            f"usable FER+ label and {lc['not_in_ferplus']} not in FER+"
        )
    for c, v in res["per_class"].items():
        print(f"  {c:<9} {v:.4f}  (n={res['support'][c]})")
