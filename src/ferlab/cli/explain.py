"""`ferlab explain`: Grad-CAM per face of a photo, or per-class mean saliency over a data split."""

from __future__ import annotations

from pathlib import Path

from ferlab.cli.recognition import add_recognizer_args, recognizer
from ferlab.errors import FerlabError


def add_parser(sub) -> None:
    ex = sub.add_parser("explain", help="Grad-CAM per face, or per-class mean saliency over a data split")
    ex.add_argument("image", nargs="?", help="photo whose faces to explain")
    ex.add_argument("--out", required=True, help="figure file (.png)")
    ex.add_argument("--whole", action="store_true", help="no face found: explain the whole image as a face")
    ex.add_argument("--data", help="FER-2013 source: draw per-class mean saliency instead")
    ex.add_argument("--split", default="val", help="split for --data")
    ex.add_argument("--per-class", type=int, default=200, help="images per class averaged, at most")
    add_recognizer_args(ex)
    ex.set_defaults(func=run)


def run(args) -> int:
    if args.data:
        return _class_saliency(args)
    if not args.image:
        raise FerlabError("explain needs an IMAGE, or --data PATH for per-class mean saliency")
    from ferlab.inference import explain
    from ferlab.inference.faces import to_face_array

    rec = recognizer(args)
    staged = rec.preprocess(args.image)  # the recognizer's first stage: the faces predict would classify
    if not staged.found:
        if not args.whole:
            raise FerlabError(f"{args.image}: no face found (use --whole to explain the image as one face)")
        faces = to_face_array(staged.rgb)[None]
    else:
        faces = staged.crops
    cams, _ = explain.grad_cam(rec.model, rec.card, faces)
    # the probabilities shown are predict's (calibrated, the card's test-time augmentation), so a
    # face reads the same here as in predict and the server; the heat map is of one plain pass
    probs = rec.probabilities(faces)
    how = f"calibrated, TTA {rec.tta}" if rec.temperature != 1.0 else f"TTA {rec.tta}"
    title = f"{Path(args.image).name} — {rec.name} (probabilities as predict gives them: {how})"
    explain.plot_explanations(faces, cams, probs, rec.classes, args.out, title)
    top = ", ".join(f"#{i} {rec.classes[int(p.argmax())]} {p.max():.2f}" for i, p in enumerate(probs, 1))
    print(f"{args.image}: {len(faces)} face(s) explained ({top}; {how}): {args.out}")
    return 0


def _class_saliency(args) -> int:
    from ferlab.checkpoint import load_model
    from ferlab.data import load_fer2013
    from ferlab.inference import explain

    model, card = load_model(args.model)
    sp = load_fer2013(args.data).split(args.split)
    maps = explain.class_saliency(model, card, sp.images, sp.labels, per_class=args.per_class)
    means = {c: sp.images[sp.labels == i].float().mean(0).numpy() for i, c in enumerate(card["classes"]) if c in maps}
    explain.plot_class_saliency(
        maps, means, args.out, f"{card['name']}: mean Grad-CAM of the true class, {args.split} split"
    )
    print(f"per-class mean saliency over {args.split} ({args.per_class} images per class at most): {args.out}")
    return 0
