"""`ferlab data summary`: what is in a FER-2013 copy, including its known defects."""

from __future__ import annotations

import hashlib
from collections import defaultdict

import numpy as np

from ferlab.data.fer2013 import FerData
from ferlab.data.ferplus import mode_classes


def _groups(keys: dict[str, list[str]], data: FerData, *, listed: bool = False) -> dict:
    """Groups of images sharing a key: counts, and with `listed` the groups spanning splits
    themselves (file, split and label of each member; what `--json` gives to act on)."""
    classes = mode_classes(data.labels)
    members: dict[str, list[tuple[str, int]]] = defaultdict(list)
    names: dict[str, list[str]] = defaultdict(list)
    for split, ks in keys.items():
        sp = data.splits[split]
        for k, lab, name in zip(ks, np.asarray(sp.labels).tolist(), sp.names, strict=True):
            members[k].append((split, lab))
            names[k].append(name)
    dup = [m for m in members.values() if len(m) > 1]
    cross = [m for m in dup if len({s for s, _ in m}) > 1]
    conflict = [m for m in dup if len({lab for _, lab in m}) > 1]
    return {
        "groups": len(dup),
        "files": sum(len(m) for m in dup),
        "cross_split_groups": len(cross),
        "conflicting_label_groups": len(conflict),
        "within_split_groups": {s: sum(1 for m in dup if sum(1 for t, _ in m if t == s) > 1) for s in keys},
        **(
            {
                "cross_split": [
                    [{"file": f, "split": t, "label": classes[lab]} for f, (t, lab) in zip(names[k], m, strict=True)]
                    for k, m in members.items()
                    if len({t for t, _ in m}) > 1
                ]
            }
            if listed
            else {}
        ),
    }


def summarize(data: FerData) -> dict:
    classes = mode_classes(data.labels)  # FER+'s 8-class modes count contempt too
    splits = {
        s: {**dict.fromkeys(classes, 0), **(data.splits[s].class_counts() if s in data.splits else {})}
        for s in ("train", "val", "test")
    }
    # numpy throughout: the light install (no torch) counts and hashes as well
    images = {s: np.asarray(sp.images) for s, sp in data.splits.items()}
    pixel_keys = {
        s: [hashlib.blake2b(img.tobytes(), digest_size=12).hexdigest() for img in imgs] for s, imgs in images.items()
    }
    peak = {s: imgs.reshape(len(imgs), -1).max(1) if len(imgs) else np.zeros(0) for s, imgs in images.items()}
    black = {s: int((p == 0).sum()) for s, p in peak.items()}
    black_names = [n for s, sp in data.splits.items() for n, p in zip(sp.names, peak[s], strict=True) if p == 0]
    return {
        "source": data.source,
        "splits": splits,
        "totals": {s: sum(c.values()) for s, c in splits.items()},
        "notes": data.notes,
        "images": {
            "modes": data.stats.modes,
            "sizes": data.stats.sizes,
            "converted_to_gray": data.stats.converted_mode,
            "resized_to_48": data.stats.resized,
        },
        "skipped": [{"file": f, "reason": r} for f, r in data.stats.skipped],
        "duplicates": _groups(data.byte_hashes, data),
        "pixel_duplicates": _groups(pixel_keys, data, listed=True),
        "all_black": {"count": sum(black.values()), "per_split": black, "files": black_names[:50]},
    }


def format_summary(s: dict) -> str:
    lines = [f"FER-2013 at {s['source']}"]
    lines += [f"  note: {n}" for n in s["notes"]]
    classes = list(s["splits"]["train"])
    w = max(len(c) for c in classes)
    lines.append(f"  {'class':<{w}}  {'train':>7} {'val':>7} {'test':>7}")
    for c in classes:
        lines.append(f"  {c:<{w}}  " + " ".join(f"{s['splits'][sp][c]:>7}" for sp in ("train", "val", "test")))
    lines.append(f"  {'total':<{w}}  " + " ".join(f"{s['totals'][sp]:>7}" for sp in ("train", "val", "test")))
    im = s["images"]
    lines.append(
        f"  image modes {im['modes']}, sizes {im['sizes']}; converted to gray {im['converted_to_gray']},"
        f" resized to 48x48 {im['resized_to_48']}"
    )
    for key, title in (("duplicates", "byte-identical"), ("pixel_duplicates", "pixel-identical")):
        d = s[key]
        lines.append(
            f"  {title} duplicate groups: {d['groups']} ({d['files']} files), across splits "
            f"{d['cross_split_groups']}, conflicting labels {d['conflicting_label_groups']}"
        )
    lines.append(f"  all-black images: {s['all_black']['count']}")
    if s["skipped"]:
        lines.append(f"  skipped {len(s['skipped'])} unreadable file(s):")
        lines += [f"    {x['file']}: {x['reason']}" for x in s["skipped"][:20]]
        if len(s["skipped"]) > 20:
            lines.append(f"    … and {len(s['skipped']) - 20} more (see --json)")
    return "\n".join(lines)
