"""Model cards and model references, without torch: what a checkpoint is and says.

A checkpoint is `model.safetensors` whose metadata key "ferlab_card" holds the JSON card
(architecture and config, class names, input size, normalisation, training data, selection
split, metrics, date, command), with `card.json` beside it for people. Reading a card needs
only the safetensors header, so the onnxruntime path and `ferlab models` never import torch.

What the weights need to run (architecture and config, classes, input and normalisation) lives
in the weights file and only there. What is measured or chosen after the weights exist (`metrics`,
`inference`: accuracy, timings, stability, calibration, the shipped TTA and int8 copy) is also
recorded in the JSON beside it (`card.json`, or `NAME.json` for a bundled model), which wins for
those two keys when it belongs to the same weights (same `created` and architecture): re-measuring
a model rewrites a few kilobytes of JSON, never the weights file.

A model reference is either the name of a model bundled in `ferlab/weights/` or a path. A name
never touches the file system beyond the package (a folder called `fer-vgg-wide` in the working
directory does not replace the bundled model); a path must look like one: it contains a
separator, starts with `.` or `~`, or ends in `.safetensors`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from ferlab.errors import FerlabError
from ferlab.labels import CLASSES

CARD_FORMAT = "ferlab-card/1"
WEIGHTS_FILE = "model.safetensors"
BUNDLED_DIR = Path(__file__).parent / "weights"
# Chosen by the rule in benchmarks/default_choice.py on faces unlike FER-2013's own labels (docs/accuracy.md,
# "Choosing the default"); fer-vgg-wide stays bundled by name as the study's model of FER-2013's labels.
DEFAULT_MODEL = "fer-vgg-wide-ferplus"
# FER+'s 8 classes (contempt added): the default's network with an 8-way last layer (scripts/ferplus8.py)
DEFAULT_MODEL_8 = "fer-vgg-wide-ferplus8"


def default_model(classes: int | None = None) -> str:
    """The bundled default for 7 classes (or unsaid), and for FER+'s 8."""
    return DEFAULT_MODEL_8 if classes == 8 else DEFAULT_MODEL


# What every bundled emotion model is for and not for, printed with its card (`ferlab info`); the
# README's "Intended use and limitations" says the same at length.
USE_AND_LIMITS = (
    "intended use: research, media analysis, interfaces whose users know it runs; it reads facial "
    "expressions as crowd workers labelled them in 48×48 grey web images, not inner emotional states",
    "confidence: the calibrated probability of the label on FER-2013-like faces (among faces given p, about "
    "a share p carry that label); less reliable on faces unlike them (profiles, small, blurred, strong light)",
    "limitations: mostly posed or semi-posed training faces (spontaneous expressions are subtler); accuracy by "
    "age, sex, skin tone or culture not measured (unknown, not absent)",
    "not for decisions about people (hiring, grading, policing, credit, health); the EU AI Act prohibits "
    "emotion recognition at work and in education (Art. 5(1)(f), except medical or safety reasons)",
)
DEFAULT_REASON = (
    "learned from FER+'s ten annotators per face, it is right more often than fer-vgg-wide on faces unlike "
    "FER-2013's (FER+ labels, degraded photo-like faces, faces in photos) and steadier, at the same cost; "
    "fer-vgg-wide, the study's model of FER-2013's single-annotator labels, scores higher on those: "
    "docs/accuracy.md"
)
# what `ferlab models` says about the options for collections unlike the default's training data
OPTIONS_NOTE = (
    "for films or posed-expression studies, --prior uniform (every emotion equally likely: finds more sad, fear "
    "and disgust); for FER+'s 8 classes with contempt, --classes 8 (fer-vgg-wide-ferplus8); measured in "
    "docs/accuracy.md"
)


@dataclass(frozen=True)
class InputSpec:
    """What the network eats: a size×size face, its channels, and the normalisation of [0, 1] pixels."""

    mean: float
    std: float
    size: int = 48
    channels: int = 1
    dtype: str = "uint8 grayscale"


@dataclass(frozen=True)
class InferenceSpec:
    """How the model ships: the Recognizer's defaults for it (each fact here and nowhere else)."""

    backend: str = "torch"
    precision: str = "fp32"
    tta: str = "none"
    temperature: float | None = None  # fitted on val (ferlab bundle); None: probabilities as the network gives
    onnx_int8: str | None = None  # the int8 copy's file name beside the weights
    # the class frequencies the probabilities carry (its training labels'), for --prior
    # (ferlab.runtime.prior); recorded by scripts/class_prior.py
    train_prior: list[float] | None = None


@dataclass(frozen=True)
class ModelCard:
    """A checkpoint's card. Stored as JSON (in the safetensors metadata and beside it); in code,
    `ModelCard.from_dict` checks a stored card and says in one line what is wrong with it.
    `training` and `metrics` stay open mappings: runs and benchmarks add to them."""

    architecture: str
    input: InputSpec
    name: str = ""
    arch_config: dict = field(default_factory=dict)
    classes: tuple[str, ...] = tuple(CLASSES)
    parameters: int = 0
    training: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    inference: InferenceSpec = field(default_factory=InferenceSpec)
    created: str = ""
    command: str = ""
    format: str = CARD_FORMAT
    # a bundled model whose weights this one shares: the file holds only the tensors that differ
    # (the 8-class default is the 7-class one with another last layer: 8 kB instead of 19 MB)
    base: str | None = None
    extra: dict = field(default_factory=dict)  # keys other tools added (kept, never interpreted)

    @classmethod
    def from_dict(cls, d: dict, where: str = "card") -> ModelCard:
        if not isinstance(d, dict):
            raise FerlabError(f"{where}: a card is a JSON object, not {type(d).__name__}")
        if d.get("format") != CARD_FORMAT:
            raise FerlabError(f"{where}: card format {d.get('format')!r} is not {CARD_FORMAT}")
        for key in ("architecture", "classes", "input"):
            if key not in d:
                raise FerlabError(f"{where}: card has no {key!r}")
        inp = d["input"]
        if not isinstance(inp, dict) or not {"mean", "std"} <= inp.keys():
            raise FerlabError(f"{where}: card's 'input' needs 'mean' and 'std' (the normalisation)")
        if len(d["classes"]) < 2:
            raise FerlabError(f"{where}: card names {len(d['classes'])} classes")
        inference = dict(d.get("inference") or {})
        known = {f.name for f in dataclasses.fields(InferenceSpec)}
        if unknown := sorted(set(inference) - known):
            raise FerlabError(f"{where}: card's 'inference' has unknown key(s) {', '.join(unknown)}")
        own = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        return cls(
            architecture=d["architecture"],
            input=InputSpec(**{k: inp[k] for k in ("mean", "std", "size", "channels", "dtype") if k in inp}),
            name=d.get("name", d["architecture"]),
            arch_config=dict(d.get("arch_config") or {}),
            classes=tuple(d["classes"]),
            parameters=int(d.get("parameters") or 0),
            training=dict(d.get("training") or {}),
            metrics=dict(d.get("metrics") or {}),
            inference=InferenceSpec(**inference),
            created=d.get("created", ""),
            command=d.get("command") or "",
            base=d.get("base"),
            extra={k: v for k, v in d.items() if k not in own and not k.startswith("_")},
        )

    def to_dict(self) -> dict:
        """The JSON form. `inference` holds only what was set (an unset temperature is no temperature)."""
        out = {
            "format": self.format,
            "name": self.name,
            "architecture": self.architecture,
            "arch_config": self.arch_config,
            "classes": list(self.classes),
            "input": dataclasses.asdict(self.input),
            "parameters": self.parameters,
            "training": self.training,
            "metrics": self.metrics,
            "created": self.created,
            "command": self.command,
            **({"base": self.base} if self.base else {}),
            **self.extra,
        }
        if self.inference != InferenceSpec():  # a training checkpoint ships as the network is
            out["inference"] = {k: v for k, v in dataclasses.asdict(self.inference).items() if v is not None}
        return out


def make_card(
    architecture: str,
    arch_config: dict,
    *,
    mean: float,
    std: float,
    params: int,
    training: dict | None = None,
    metrics: dict | None = None,
    name: str | None = None,
    command: list[str] | str | None = None,
    classes: tuple[str, ...] = CLASSES,
    **extra,
) -> dict:
    """The card of a new checkpoint; `command` is what made it (argv list or string), as the caller knows it."""
    if isinstance(command, list | tuple):
        command = shlex.join(command)
    inference = extra.pop("inference", None)
    card = ModelCard(
        architecture=architecture,
        classes=tuple(classes),
        input=InputSpec(mean=mean, std=std),
        name=name or architecture,
        arch_config=arch_config,
        parameters=params,
        training=training or {},
        metrics=metrics or {},
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        command=command or "",
        extra=extra,
    ).to_dict()
    if inference is not None:
        card["inference"] = inference
    return card


def bundled_models() -> list[str]:
    return sorted(p.stem for p in BUNDLED_DIR.glob("*.safetensors"))


def user_models() -> list[str]:
    """Models the user bundled (`ferlab bundle`, into ferlab.paths.user_models_dir)."""
    from ferlab.paths import user_models_dir

    d = user_models_dir()
    return sorted(p.stem for p in d.glob("*.safetensors")) if d.is_dir() else []


def looks_like_path(ref: str | os.PathLike) -> bool:
    if not isinstance(ref, str):
        return True  # a Path object is a path
    return (
        any(sep in ref for sep in ("/", os.sep))
        or ref.startswith((".", "~"))
        or ref.endswith((".safetensors", ".onnx"))
    )


def resolve(ref: str | os.PathLike | None) -> Path:
    """Model reference → the .safetensors file. None means the bundled default."""
    if ref is None:
        ref = DEFAULT_MODEL
    if not isinstance(ref, str | os.PathLike):
        raise FerlabError(f"model reference must be a bundled name or a path, not {type(ref).__name__}")
    if not looks_like_path(ref):
        from ferlab.paths import user_models_dir

        bundled = BUNDLED_DIR / f"{ref}.safetensors"
        if bundled.exists():
            return bundled
        mine = user_models_dir() / f"{ref}.safetensors"
        if mine.exists():
            return mine
        raise FerlabError(
            f"model {ref[:80]!r} is not a bundled model (bundled: {', '.join(bundled_models() + user_models())}); "
            f"for a checkpoint give a path such as ./{ref[:40]} or runs/{ref[:40]}"
        )
    p = Path(ref).expanduser()
    if p.is_dir():
        f = p / WEIGHTS_FILE
        if not f.exists():
            best = p / "best" / WEIGHTS_FILE  # a run directory: use its best checkpoint
            if best.exists():
                return best
            raise FerlabError(f"{p}: folder has no {WEIGHTS_FILE} (nor best/{WEIGHTS_FILE})")
        return f
    if p.is_file():
        return p
    raise FerlabError(
        f"model {str(ref)[:200]!r} not found: no such checkpoint file or folder "
        f"(bundled names: {', '.join(bundled_models()) or 'none'})"
    )


def read_onnx_card(f: Path) -> dict:
    """The card of an ONNX file ferlab exported (`ferlab export`, or a bundled .int8.onnx): it
    runs with onnxruntime as it is, no checkpoint needed."""
    try:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        meta = ort.InferenceSession(str(f), opts, providers=["CPUExecutionProvider"]).get_modelmeta()
    except Exception as e:  # onnxruntime raises its own types for a file that is not ONNX
        raise FerlabError(f"{f}: not a readable ONNX model ({str(e).strip()[:120]})") from None
    if "ferlab_card" not in meta.custom_metadata_map:
        raise FerlabError(
            f"{f}: an ONNX model without a ferlab card (not exported by `ferlab export`): ferlab needs its "
            "classes and preprocessing; pass the checkpoint it came from instead"
        )
    card = json.loads(meta.custom_metadata_map["ferlab_card"])
    card["_path"] = card["_onnx"] = str(f)
    card["inference"] = {**card.get("inference", {}), "backend": "onnxruntime", "precision": "fp32"}
    card["inference"].pop("onnx_int8", None)
    return card


def read_card(ref: str | os.PathLike | None) -> dict:
    from safetensors import SafetensorError, safe_open

    f = resolve(ref)
    if f.suffix.lower() == ".onnx":
        return read_onnx_card(f)
    try:
        with safe_open(str(f), framework="numpy") as sf:
            meta = sf.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise FerlabError(f"{f}: not a readable safetensors checkpoint ({e})") from None
    if "ferlab_card" not in meta:
        raise FerlabError(f"{f}: safetensors file carries no ferlab card (not saved by ferlab)")
    try:
        stored = json.loads(meta["ferlab_card"])
    except ValueError:
        raise FerlabError(f"{f}: its ferlab card is not valid JSON") from None
    card = ModelCard.from_dict(stored, str(f)).to_dict()
    card["_path"] = str(f)
    record = card_record_path(f)
    if record.is_file():
        try:
            later = json.loads(record.read_text())
        except (OSError, ValueError):  # unreadable record: the weights file's own card still holds
            later = None
        if isinstance(later, dict) and _same_weights(later, card):
            merged = {**card, **{k: later[k] for k in LATER_KEYS if isinstance(later.get(k), dict)}}
            card = {**ModelCard.from_dict(merged, str(record)).to_dict(), "_path": str(f)}
    return card


LATER_KEYS = ("metrics", "inference")  # the keys the record beside the weights may update


def card_record_path(weights: str | os.PathLike) -> Path:
    """The JSON card beside a weights file: `card.json` in a checkpoint folder, `NAME.json` beside
    `NAME.safetensors` otherwise (bundled and user models)."""
    w = Path(weights)
    return w.parent / "card.json" if w.name == WEIGHTS_FILE else w.with_suffix(".json")


def _same_weights(record: dict, card: dict) -> bool:
    return record.get("created") == card.get("created") and record.get("architecture") == card.get("architecture")


def shipped_tta(card: dict) -> str:
    """The test-time augmentation a model ships with: the card's `inference.tta`, its one home."""
    return card.get("inference", {}).get("tta") or InferenceSpec.tta


def shipped_accuracy(card: dict) -> tuple[float | None, str]:
    """The val accuracy of the model as it ships (with its default test-time augmentation), and that mode."""
    m = card.get("metrics", {})
    mode = shipped_tta(card)
    if "val_accuracy_default" in m:  # measured through the shipped configuration itself
        return m["val_accuracy_default"], mode
    by_mode = m.get("val_accuracy_by_tta") or {}
    return by_mode.get(mode, m.get("val_accuracy")), mode
