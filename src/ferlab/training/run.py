"""`ferlab train`: `train(cfg, run_dir)` reads top to bottom — data, model, callbacks, trainer —
with the optional steps (initial weights, teachers, feature cache) as helpers below it."""

from __future__ import annotations

import logging
import os
import warnings

import torch

from ferlab.data.augment import AugmentConfig
from ferlab.data.ferplus import mode_classes
from ferlab.errors import FerlabError
from ferlab.labels import NUM_CLASSES
from ferlab.run_dir import RunDir
from ferlab.training.config import cached_block, dump_config


def quiet_lightning() -> None:
    # These warnings are about choices made on purpose (in-memory batches, no workers).
    for pat in (
        ".*does not have many workers.*",
        ".*num_workers.*",
        ".*LitLogger.*",
        ".*litlogger.*",
        ".*GPU available but not used.*",
        ".*Total length of .* across ranks is zero.*",
        ".*Your `IterableDataset` has `__len__` defined.*",
        ".*batch_size.*",
        ".*overridden `on_after_batch_transfer`.*",
        ".*LeafSpec.*",
    ):
        warnings.filterwarnings("ignore", message=pat)
    for name in (
        "lightning.pytorch.trainer.connectors.logger_connector.logger_connector",
        "lightning.pytorch.trainer.connectors.checkpoint_connector",
    ):
        logging.getLogger(name).setLevel(logging.WARNING)
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if _drop_logger_tip not in rank_zero.filters:
        rank_zero.addFilter(_drop_logger_tip)


def _drop_logger_tip(record: logging.LogRecord) -> bool:
    # Lightning advertises a cloud logger at every fit; not useful here.
    return "litlogger" not in record.getMessage().lower()


def _use_feature_cache(cfg: dict, module, dm, run: RunDir, progress: bool = True) -> None:
    """Swap the data module's images for cached outputs of the backbone's frozen bottom blocks;
    with augment.hflip, the training split holds each face's and its mirror image's, (N, 2, T, D),
    and each step draws one of the two (FerModule.on_after_batch_transfer). What the cache cost
    goes to the run's feature_cache.json."""
    from ferlab.data.fer2013 import Split
    from ferlab.io import atomic_write_json
    from ferlab.models.feature_cache import bytes_per_image, cache_file, cached_hidden, check_space
    from ferlab.paths import cache_dir

    t = cfg["train"]
    fz = t["freeze"]
    model = module.model
    if not fz or not hasattr(model, "blocks"):
        raise FerlabError("train.feature_cache needs a pretrained backbone and a train.freeze setting")
    if fz["plateau_patience"]:
        raise FerlabError("train.feature_cache cannot be combined with plateau unfreezing (unbounded depth)")
    aug = AugmentConfig.from_dict(t["augment"])
    if aug.active and aug != AugmentConfig(hflip=True):
        raise FerlabError(
            "train.feature_cache allows only augment.hflip (the mirror image is cached too): "
            "cached features are of unaugmented images"
        )
    start = cached_block(fz, len(model.blocks))
    module.hparams.feature_start = start
    root = cache_dir() / "features"
    views = {
        "train": [dm.train_split.images, *([dm.train_split.images.flip(-1)] if aug.hflip else [])],
        "val": [dm.val_split.images],
    }
    to_build = [v for vs in views.values() for v in vs if not cache_file(model, v, start, root).exists()]
    if to_build:
        check_space(root, bytes_per_image(model, start) * sum(len(v) for v in to_build))
    record = {"block": start, "resolution": model.image_size, "hflip": aug.hflip, "splits": {}}
    norm = cfg["normalize"]
    for name, images in views.items():
        split = dm.train_split if name == "train" else dm.val_split
        built = []
        for view in images:
            hidden, seconds = cached_hidden(
                model, view, start, root, mean=norm["mean"], std=norm["std"], progress=progress
            )  # --no-progress silences the cache's bar too
            built.append((hidden, seconds))
        hidden = built[0][0] if len(built) == 1 else torch.stack([h for h, _ in built], 1)
        print(
            f"feature cache {'built' if any(s is not None for _, s in built) else 'hit'}: "
            f"{name} {tuple(hidden.shape)} after block {start}",
            flush=True,
        )
        record["splits"][name] = {
            "images": len(split.labels),
            "views": len(built),
            "bytes": hidden.numel() * hidden.element_size(),
            "build_seconds": [s for _, s in built],  # None: read from the cache
        }
        dm.data.splits[name] = Split(hidden, split.labels, split.names, split.soft)
    dm.limit_train = dm.limit_val = None  # already applied before caching
    atomic_write_json(run.path / "feature_cache.json", record)


def _init_weights(module, cfg: dict, ref) -> None:
    """Load a trained network of the same architecture and tensor shapes into the fresh module
    (settings without weights, such as dropout, may differ: fine-tuning often changes them)."""
    from ferlab.checkpoint import load_model

    model, card = load_model(ref)
    arch = cfg["model"]["architecture"]
    have, want = model.state_dict(), module.model.state_dict()
    same = card["architecture"] == arch and {k: v.shape for k, v in have.items()} == {
        k: v.shape for k, v in want.items()
    }
    if not same:
        raise FerlabError(
            f"train.init_from {ref}: holds {card['architecture']} {card.get('arch_config', {})}, "
            f"whose weights do not fit this run's {arch} {cfg['model'].get('config') or {}}"
        )
    module.model.load_state_dict(have)


def _use_soft_targets(cfg: dict, dm, progress: bool) -> None:
    """Offline distillation: the teachers read every clean training image once (cached on disk)."""
    from ferlab.paths import cache_dir
    from ferlab.training.module import load_teachers
    from ferlab.training.soft_targets import cached_soft_targets

    distill, norm = cfg["train"]["distill"], cfg["normalize"]
    teachers = load_teachers(distill, norm["mean"], norm["std"])
    dm.setup("fit")
    targets, hit = cached_soft_targets(
        distill["teachers"],
        teachers,
        dm.train_split.images,
        float(distill["temperature"]),
        mean=norm["mean"],
        std=norm["std"],
        cache=cache_dir() / "soft_targets",
        progress=progress,
    )
    agree = (targets.argmax(1) == dm.train_split.labels).float().mean().item()
    print(
        f"teacher targets {'read from cache' if hit else 'computed'}: {len(distill['teachers'])} teachers × "
        f"{len(targets)} images, agreeing with the labels on {agree:.1%}",
        flush=True,
    )
    dm.train_soft_targets = targets


def train(
    cfg: dict,
    run_dir: RunDir | str | os.PathLike,
    *,
    resume: bool = False,
    devices: int | str = 1,
    strategy: str = "auto",
    accelerator: str = "auto",
    progress: bool = True,
    command: str = "",
) -> RunDir:
    """Train the config `cfg` (from `load_config`) into `run_dir` (the format: ferlab.run_dir):
    config.yaml, metrics.csv, best/ and last/ checkpoints with their cards, loss curves,
    summary.json and the resumable Lightning state, each written atomically. `resume` continues
    from its last resumable state; devices,
    strategy and accelerator go to Lightning (e.g. 2 and "ddp"); `command` is recorded in the cards."""
    import lightning as L

    from ferlab.data.datamodule import FerDataModule
    from ferlab.data.fer2013 import load_fer2013
    from ferlab.measure import machine_info

    quiet_lightning()
    if not progress:  # transformers draws its own bar while it loads a backbone's weights
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    t, d = cfg["train"], cfg["data"]
    if t["threads"]:
        torch.set_num_threads(int(t["threads"]))
    run = RunDir(run_dir)
    run.path.mkdir(parents=True, exist_ok=True)
    if not resume:
        run.write_config(dump_config(cfg))
    L.seed_everything(t["seed"], workers=True, verbose=False)

    # 1. data: the splits in memory, sampled per epoch by the data module
    data = load_fer2013(d["path"], strict=d["strict"], labels=d["labels"], votes=d["ferplus_votes"])
    soft_labels = data.splits["train"].soft is not None
    if soft_labels and t["distill"]:
        raise FerlabError("data.labels ferplus-soft cannot be combined with train.distill (both are soft targets)")
    dm = FerDataModule(
        data,
        batch_size=t["batch_size"],
        balanced=d["balanced"],
        seed=t["seed"],
        limit_train=d["limit_train"],
        limit_val=d["limit_val"],
        on_device=d["on_device"],
    )

    # 2. model, loss and optimiser: one LightningModule, with as many outputs as the labels have classes
    module = _module(cfg, dm, soft_labels, len(mode_classes(data.labels)))

    # 3. optional starts: trained weights, teachers' soft targets, cached frozen features
    if t["init_from"] and not resume:
        _init_weights(module, cfg, t["init_from"])
    if t["distill"] and t["distill"]["offline"]:
        _use_soft_targets(cfg, dm, progress)
    if t["feature_cache"]:
        if t["distill"]:
            raise FerlabError("train.feature_cache cannot be combined with train.distill (teachers need images)")
        _use_feature_cache(cfg, module, dm, run, progress)

    # 4. record keeping: what every checkpoint's card says about its training, and the callbacks
    card_training = {
        "data": str(d["path"]),
        "data_notes": data.notes,
        "labels": data.labels,
        "train_images": len(dm.train_split),
        "selection_split": "val (PublicTest)"
        if "PublicTest" in " ".join(data.notes) or "official" in " ".join(data.notes)
        else "val (carved from train)",
        "balanced_resampling": bool(d["balanced"]),
        "class_weighted_loss": d["class_weighted_loss"],
        "epochs": int(t["epochs"]),
        "config": cfg,
        "command": command,
        "machine": machine_info(),
    }
    callbacks = _callbacks(cfg, run, module, card_training, progress)
    if not progress:
        # --no-progress is for logs: Lightning's "GPU available / TPU available / `Trainer.fit`
        # stopped" notices are its own progress talk, said at INFO level
        import logging

        for name in ("lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
            logging.getLogger(name).setLevel(logging.WARNING)

    # 5. the loop itself is Lightning's
    trainer = L.Trainer(
        max_epochs=int(t["epochs"]),
        max_time={"minutes": float(t["max_minutes"])} if t["max_minutes"] else None,
        accelerator=accelerator,
        devices=devices,
        strategy=strategy,
        precision=t["precision"],
        deterministic=t["deterministic"],
        benchmark=not t["deterministic"],
        enable_checkpointing=False,
        logger=False,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,  # EpochBatchSampler shards itself across ranks
        enable_progress_bar=progress,
        enable_model_summary=False,
        callbacks=callbacks,
        default_root_dir=str(run),
    )
    trainer.fit(module, datamodule=dm, ckpt_path=str(run.resume_checkpoint) if resume and run.resumable() else None)
    return run


def _module(cfg: dict, dm, soft_labels: bool, n_classes: int):
    """The LightningModule a config describes: network, loss, optimiser and schedule."""
    from ferlab.data.sampling import class_loss_weights
    from ferlab.training.module import FerModule

    t, d = cfg["train"], cfg["data"]
    weights = class_loss_weights(dm.train_split.labels).tolist() if d["class_weighted_loss"] else None
    arch_config = dict(cfg["model"].get("config") or {})
    if n_classes != NUM_CLASSES:  # FER+'s 8 classes: the network is built with an eighth output
        arch_config["num_classes"] = n_classes
    module = FerModule(
        cfg["model"]["architecture"],
        arch_config,
        optimizer=t["optimizer"],
        lr=float(t["lr"]),
        weight_decay=float(t["weight_decay"]),
        momentum=float(t["momentum"]),
        scheduler=t["scheduler"],
        warmup_epochs=int(t["warmup_epochs"]),
        max_epochs=int(t["epochs"]),
        label_smoothing=float(t["label_smoothing"]),
        mixup=float(t["mixup"]),
        class_weights=weights,
        augment=t["augment"],
        mean=cfg["normalize"]["mean"],
        std=cfg["normalize"]["std"],
        channels_last=t["channels_last"],
        seed=int(t["seed"]),
        on_device=d["on_device"],
        backbone_lr=None if t["backbone_lr"] is None else float(t["backbone_lr"]),
        trainable_blocks=int(t["freeze"]["start"]) if t["freeze"] else None,
        distill=t["distill"],
        soft_labels=soft_labels,
    )
    return module


def _callbacks(cfg: dict, run: RunDir, module, card_training: dict, progress: bool) -> list:
    """Progress, the time budget, the run's records and gradual unfreezing, as the config asks."""
    from ferlab.training.callbacks import EpochBudget, EpochProgressBar, GradualUnfreeze, RunRecorder

    t = cfg["train"]
    callbacks: list = [EpochProgressBar()] if progress else []
    if t["budget_minutes"]:
        if t["scheduler"] == "cosine" and int(t["warmup_epochs"]) < 2:
            raise FerlabError("train.budget_minutes with a cosine schedule needs train.warmup_epochs >= 2")
        callbacks.append(EpochBudget(float(t["budget_minutes"]), cfg, run, card_training))
    callbacks.append(RunRecorder(run, cfg, card_training))
    if t["freeze"]:
        if not hasattr(module.model, "set_trainable_blocks"):
            raise FerlabError(f"{cfg['model']['architecture']}: train.freeze needs a pretrained backbone")
        fz = t["freeze"]
        callbacks.append(
            GradualUnfreeze(
                start=int(fz["start"]),
                schedule=fz["schedule"],
                plateau_patience=fz["plateau_patience"],
                step=int(fz["step"]),
            )
        )
    return callbacks
