"""What `ferlab models` lists: the registered architectures and the bundled models, as data.
Bundled models are read from their cards alone (no torch); the architectures need the training
stack (`ferlab[train]`) and are listed as None without it."""

from __future__ import annotations

from ferlab.card import DEFAULT_MODEL, USE_AND_LIMITS, bundled_models, read_card, shipped_accuracy, user_models


def architectures() -> list[dict] | None:
    try:
        from ferlab.models import available, build, count_parameters
    except ImportError:  # the light install: no torch
        return None
    return [
        {
            "name": e.name,
            "parameters": None if e.params_note else count_parameters(build(e.name)),
            "parameters_note": e.params_note,
            "description": e.description,
            "defaults": e.defaults(),
        }
        for e in available()
    ]


LABEL_NAMES = {
    "original": "FER-2013's own (one annotator per image)",
    "ferplus-majority": "FER+ majority (10 annotators per image)",
    "ferplus-soft": "FER+ vote distributions (10 annotators per image)",
    "ferplus-majority8": "FER+ majority, 8 classes with contempt (10 annotators per image)",
    "ferplus-soft8": "FER+ vote distributions, 8 classes with contempt (10 annotators per image)",
}


def learned_labels(card: dict) -> str:
    """Which labels a model was trained on: FER-2013's own (one annotator) or FER+'s votes."""
    return (
        card.get("training", {}).get("labels")
        or card.get("training", {}).get("config", {}).get("data", {}).get("labels")
        or "original"
    )


def catalogue() -> dict:
    """{"architectures": [...] or None, "bundled": [...]}; bundled accuracy is as shipped (with its TTA)."""
    bundled = []
    mine = set(user_models()) - set(bundled_models())
    for name in bundled_models() + sorted(mine):
        card = read_card(name)
        acc, mode = shipped_accuracy(card)
        m = card.get("metrics", {})
        bundled.append(
            {
                "name": name,
                "architecture": card["architecture"],
                "classes": card["classes"],
                "parameters": card.get("parameters"),
                "labels_learned": learned_labels(card),
                "val_accuracy": acc,
                "evaluated_with": m.get("labels", "original"),
                "tta": mode,
                "val_accuracy_one_pass": m.get("val_accuracy"),
                "default": name == DEFAULT_MODEL,
                "yours": name in mine,  # bundled by `ferlab bundle` into your models folder
            }
        )
    return {"architectures": architectures(), "bundled": bundled}


def _scored_on(m: dict, tr: dict) -> str:
    """Which images a card's accuracy was measured on: the whole PublicTest when bundling says so,
    else the run's own validation split, and how much of it (a --limit-val subset is not PublicTest)."""
    import re

    labels = f"{m.get('labels') or tr.get('labels') or 'original'} labels"
    if m.get("evaluated_on"):
        n = re.search(r"n=(\d+)", m["evaluated_on"])
        return f"FER-2013 PublicTest, {labels}" + (f", n={n.group(1)}" if n else "")
    limit = ((tr.get("config") or {}).get("data") or {}).get("limit_val")
    split = tr.get("selection_split", "the run's validation split")
    return f"{split}" + (f", a class-stratified subset of {limit} images" if limit else "") + f", {labels}"


def describe_card(card: dict) -> str:
    """A model card for people: what the model learned, how it runs as shipped, what it scores
    (the number as shipped first, with the mode that makes it), what it costs, where it came from."""
    m, inf, tr = card.get("metrics", {}), card.get("inference", {}), card.get("training", {})
    acc, mode = shipped_accuracy(card)
    lines = [
        f"{card['name']}: {card['architecture']}, {card.get('parameters', 0):,} parameters",
        f"  classes: {', '.join(card['classes'])}",
        f"  input: {card['input']['size']}×{card['input']['size']} grayscale faces",
        f"  labels learned: {LABEL_NAMES.get(learned_labels(card), learned_labels(card))}",
        f"  runs as: {inf.get('backend', 'torch')} {inf.get('precision', 'fp32')}, test-time augmentation {mode}"
        + (f", calibrated (temperature {inf['temperature']})" if inf.get("temperature") else ""),
    ]
    if inf.get("precision") == "int8":
        from ferlab.runtime.cpu import int8_kernels

        lines.append(
            "  on this CPU: "
            + (
                "int8 kernels (it has integer dot-product instructions)"
                if int8_kernels()
                else "fp32 kernels on the int8 weights (no integer dot-product instructions: int8 kernels are slower)"
            )
        )
    head = m.get("headline") or {}
    extra = []
    one = m.get("val_accuracy")
    if one is not None and mode != "none":
        extra.append(f"    (one pass, torch fp32, no test-time augmentation: {one:.4f})")
    if m.get("val_accuracy_original_labels") is not None:
        extra.append(f"    on FER-2013's original labels, one pass: {m['val_accuracy_original_labels']:.4f}")
    if acc is not None and not head.get("publictest"):  # a measured headline says it once, below
        lines.append(f"  accuracy as shipped: {acc:.4f} ({_scored_on(m, tr)})")
        lines += extra
    for key, what in (("publictest", "FER-2013 PublicTest"), ("ferplus_valid", "FER+ Valid (FERPlus layout)")):
        h = head.get(key)
        if h and h.get("accuracy_without_train_duplicates") is not None:
            lines.append(
                f"  {what}, {h.get('labels', 'original')} labels, as shipped: {h['accuracy']:.4f} (n={h['n']}); "
                f"without the images that repeat a training image: {h['accuracy_without_train_duplicates']:.4f} "
                f"(n={h['n_without_train_duplicates']}; {head.get('machine', {}).get('cpu', 'this CPU')})"
            )
            if key == "publictest":
                lines += extra
    if inf.get("train_prior"):
        learned = sorted(zip(card["classes"], inf["train_prior"], strict=True), key=lambda kv: -kv[1])
        lines.append(
            "  class prior it learned: "
            + ", ".join(f"{c} {v:.2f}" for c, v in learned)
            + " — for collections not sampled like web photos (films, posed-expression studies) --prior uniform "
            "re-weights it: more sad, fear and disgust found, fewer faces called neutral, a little less accuracy on "
            "web faces; --prior collection estimates the collection's own from its faces (20 or more; helps only "
            "where the model is calibrated): docs/accuracy.md"
        )
    per = m.get("per_class_default") or m.get("per_class")
    if per:
        lines.append("  per class: " + ", ".join(f"{c} {v:.2f}" for c, v in per.items()))
    cal = m.get("calibration")
    if cal:
        lines.append(f"  calibration error (ECE, held-out half): {cal['ece_before']:.3f} → {cal['ece_after']:.3f}")
    st = m.get("stability")
    if st:
        lines.append(f"  label stability (JPEG, mirror, resize, 2-px shift all agree): {st['all']:.3f} (n={st['n']})")
    shipped = m.get("shipped", {})
    if shipped.get("ms_per_face_batch1"):
        mach = shipped.get("machine", {})
        lines.append(
            f"  cost: {shipped['ms_per_face_batch1']:.1f} ms per face as shipped "
            f"({mach.get('cpu', '?')}, {mach.get('cores', '?')} cores)"
        )
    epochs, best = tr.get("epochs"), m.get("epoch", tr.get("epoch"))
    if epochs:
        sel = m.get("selection", "validation accuracy")
        lines.append(
            f"  training: {tr.get('train_images', '?')} images, {epochs} epochs"
            + (f"; the checkpoint kept is epoch {best} (best {sel})" if best is not None else "")
        )
    if card.get("created"):
        lines.append(f"  created {card['created'][:10]}")
    # what the FER-2013 family is for; a model trained on other faces has its own story to tell
    if "fer" in str(tr.get("data", "")).lower():
        lines += [f"  {line}" for line in USE_AND_LIMITS]
    return "\n".join(lines)
