"""The LightningModule: any registered architecture, batched augmentation, the study's losses."""

from __future__ import annotations

import math

import lightning as L
import torch
import torch.nn.functional as F

from ferlab.data.augment import AugmentConfig, augment_batch
from ferlab.models import build
from ferlab.preprocess import DEFAULT_MEAN, DEFAULT_STD, to_model_input
from ferlab.training.config import DISTILL_DEFAULTS

DISTILL_KEYS = ("teachers", *DISTILL_DEFAULTS)


def check_distill(distill: dict) -> None:
    from ferlab.errors import FerlabError

    if not isinstance(distill, dict):
        raise FerlabError(f"train.distill must be a mapping with keys {', '.join(DISTILL_KEYS)}")
    unknown = [k for k in distill if k not in DISTILL_KEYS]
    if unknown:
        raise FerlabError(f"train.distill: unknown key {unknown[0]!r} (known: {', '.join(DISTILL_KEYS)})")
    refs = distill.get("teachers")
    if not refs or not isinstance(refs, list):
        raise FerlabError("train.distill needs teachers: a list of checkpoints, run dirs or bundled names")
    alpha, temp = float(distill["alpha"]), float(distill["temperature"])
    if not 0 <= alpha <= 1 or temp <= 0:
        raise FerlabError(f"train.distill: alpha must lie in [0, 1] and temperature be > 0 (got {alpha}, {temp})")


def load_teachers(distill: dict, mean: float, std: float) -> list[torch.nn.Module]:
    """Frozen teacher networks for distillation; they must read the student's input as it is."""
    from ferlab.checkpoint import load_model
    from ferlab.errors import FerlabError
    from ferlab.labels import CLASSES

    check_distill(distill)
    refs = distill["teachers"]
    teachers = []
    for ref in refs:
        model, card = load_model(ref)
        if card["classes"] != list(CLASSES):
            raise FerlabError(f"teacher {ref}: its classes {card['classes']} are not ferlab's {list(CLASSES)}")
        if (card["input"]["mean"], card["input"]["std"]) != (mean, std):
            raise FerlabError(
                f"teacher {ref}: input normalised with mean {card['input']['mean']}, std {card['input']['std']}; "
                f"the student uses {mean}, {std}"
            )
        model.requires_grad_(False)
        teachers.append(model.eval().to(memory_format=torch.channels_last))
    return teachers


class FerModule(L.LightningModule):
    def __init__(
        self,
        architecture: str,
        arch_config: dict | None = None,
        *,
        optimizer: str = "adamw",
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        momentum: float = 0.9,
        scheduler: str = "none",
        warmup_epochs: int = 0,
        max_epochs: int = 10,
        label_smoothing: float = 0.0,
        mixup: float = 0.0,
        class_weights: list[float] | None = None,
        augment: dict | None = None,
        mean: float = DEFAULT_MEAN,
        std: float = DEFAULT_STD,
        channels_last: bool = True,
        seed: int = 0,
        on_device: bool = False,
        backbone_lr: float | None = None,
        trainable_blocks: int | None = None,
        feature_start: int | None = None,
        distill: dict | None = None,
        soft_labels: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(distill, dict):  # the config's defaults for what is not given (saved with the rest)
            distill = {**DISTILL_DEFAULTS, **distill}
        self.save_hyperparameters()
        self.model = build(architecture, **(arch_config or {}))
        self.augment = AugmentConfig.from_dict(augment)
        self.register_buffer(
            "class_weights",
            torch.tensor(class_weights, dtype=torch.float32) if class_weights else None,
            persistent=False,
        )
        if trainable_blocks is not None and hasattr(self.model, "set_trainable_blocks"):
            self.model.set_trainable_blocks(trainable_blocks)
        if channels_last:
            # NHWC lets oneDNN pick faster convolution kernels on CPU (measured in benchmarks/).
            self.model = self.model.to(memory_format=torch.channels_last)

        # Teachers live in a plain list: not submodules, so they are neither trained nor saved.
        # Offline distillation brings their outputs with each batch instead (training/soft_targets.py).
        if distill:
            check_distill(distill)
        online = bool(distill) and not distill["offline"]
        self._teachers: list[torch.nn.Module] = load_teachers(distill, mean, std) if online else []

        # Steps the cosine schedule spans; `set_total_epochs` moves its end when a time budget
        # fixes the epoch count after the first epochs (the warm-up does not depend on it).
        self._sched_total: int | None = None
        self._steps_per_epoch: int | None = None

    def set_total_epochs(self, epochs: int) -> None:
        self.hparams.max_epochs = epochs
        if self._steps_per_epoch is not None:
            self._sched_total = self._steps_per_epoch * epochs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.hparams.feature_start is not None:  # cached backbone features, not images
            return self.model.forward_from(x.float(), self.hparams.feature_start)
        return self.model(x)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        images, labels, *soft = batch  # soft: offline distillation targets, training batches only
        if self.hparams.feature_start is not None:
            if images.dim() == 4:  # cached features of each face and its mirror image: one of the two
                g = self._generator(images.device).manual_seed(
                    hash((self.hparams.seed, self.current_epoch, self.global_step)) & 0x7FFFFFFF
                )
                mirror = (torch.rand(len(images), generator=g, device=g.device) < 0.5).long().to(images.device)
                images = images[torch.arange(len(images), device=images.device), mirror]
            return (images, labels, *soft)
        x = to_model_input(images, self.hparams.mean, self.hparams.std)
        if self.trainer is not None and self.trainer.training and self.augment.active:
            g = self._generator(x.device).manual_seed(
                hash((self.hparams.seed, self.current_epoch, self.global_step, self.global_rank)) & 0x7FFFFFFF
            )
            x = augment_batch(x, self.augment, g, mean=self.hparams.mean, std=self.hparams.std)
        if self.hparams.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return (x, labels, *soft)

    def _generator(self, device: torch.device) -> torch.Generator:
        """Random draws for a step: on the batch's device for device-resident training (a GPU step
        then copies nothing from the host), else on the CPU as before (same numbers as earlier runs)."""
        return torch.Generator(device=device if self.hparams.get("on_device") else "cpu")

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        # Dropout draws from the global RNG, which data loading also touches at times that differ
        # between a fresh and a resumed run; reseeding per step makes a resumed run continue exactly.
        torch.manual_seed((self.hparams.seed * 1_000_003 + self.global_step * 7919 + self.global_rank) & 0x7FFFFFFF)

    def _loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if y.is_floating_point():  # a label distribution (FER+ votes): cross-entropy against it
            return -(y * logits.float().log_softmax(1)).sum(1).mean()
        return F.cross_entropy(logits, y, weight=self.class_weights, label_smoothing=self.hparams.label_smoothing)

    def on_fit_start(self) -> None:
        for t in self._teachers:
            t.to(self.device)

    def _distill_loss(self, logits: torch.Tensor, x: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        """T² × KL(teachers' mean softened distribution ‖ student's), Hinton et al. 2015.
        `target`: that distribution computed offline; None asks the teachers now, on `x`."""
        temp = float(self.hparams.distill["temperature"])
        if target is None:
            with torch.no_grad():
                target = torch.stack([(t(x).float() / temp).softmax(1) for t in self._teachers]).mean(0)
        return F.kl_div((logits.float() / temp).log_softmax(1), target, reduction="batchmean") * temp * temp

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y, *soft = batch
        target = soft[0].float() if soft else None
        if self.hparams.get("soft_labels") and target is not None:
            y, target = target, None  # the vote distribution is the label, not a teacher's output
        if self.hparams.mixup > 0:
            # mixup (Zhang et al. 2018): one Beta(a, a) weight per batch, pairs by a seeded shuffle
            g = self._generator(y.device).manual_seed((self.hparams.seed * 7_919 + self.global_step) & 0x7FFFFFFF)
            lam = float(torch.distributions.Beta(self.hparams.mixup, self.hparams.mixup).sample())  # host RNG: no sync
            perm = torch.randperm(y.numel(), generator=g, device=g.device).to(y.device)
            x = lam * x + (1 - lam) * x[perm]
            if target is not None:
                target = lam * target + (1 - lam) * target[perm]
            logits = self(x)
            loss = lam * self._loss(logits, y) + (1 - lam) * self._loss(logits, y[perm])
        else:
            logits = self(x)
            loss = self._loss(logits, y)
        if self._teachers or target is not None:
            alpha = float(self.hparams.distill["alpha"])
            loss = (1 - alpha) * loss + alpha * self._distill_loss(logits, x, target)
        hard = y.argmax(1) if y.is_floating_point() else y
        acc = (logits.argmax(1) == hard).float().mean()
        n = hard.numel()
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=n, sync_dist=True)
        self.log("train_acc", acc, on_step=False, on_epoch=True, prog_bar=True, batch_size=n, sync_dist=True)
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        # Validation loss is the plain (unweighted, unsmoothed) cross-entropy, comparable across runs.
        loss = F.cross_entropy(logits, y)
        acc = (logits.argmax(1) == y).float().mean()
        n = y.numel()
        self.log("val_loss", loss, on_epoch=True, prog_bar=True, batch_size=n, sync_dist=True)
        self.log("val_acc", acc, on_epoch=True, prog_bar=True, batch_size=n, sync_dist=True)

    def configure_optimizers(self):
        hp = self.hparams
        # All parameters go to the optimizer, frozen ones too: a gradual-unfreeze schedule turns
        # requires_grad on later, and optimizers skip parameters whose grad is None.
        backbone = getattr(self.model, "backbone", None)
        if backbone is not None and hp.backbone_lr is not None:
            bb = {id(p) for p in backbone.parameters()}
            params = [
                {"params": [p for p in self.parameters() if id(p) in bb], "lr": hp.backbone_lr},
                {"params": [p for p in self.parameters() if id(p) not in bb], "lr": hp.lr},
            ]
        else:
            params = list(self.parameters())
        if hp.optimizer == "sgd":
            opt = torch.optim.SGD(params, lr=hp.lr, momentum=hp.momentum, nesterov=True, weight_decay=hp.weight_decay)
        elif hp.optimizer == "adam":
            opt = torch.optim.Adam(params, lr=hp.lr, weight_decay=hp.weight_decay)
        elif hp.optimizer == "adamw":
            opt = torch.optim.AdamW(params, lr=hp.lr, weight_decay=hp.weight_decay)
        else:
            raise ValueError(f"unknown optimizer {hp.optimizer!r} (adamw, adam, sgd)")
        if hp.scheduler == "none":
            return opt
        if hp.scheduler == "cosine":
            steps_per_epoch = max(1, self.trainer.estimated_stepping_batches // max(1, hp.max_epochs))
            self._steps_per_epoch = steps_per_epoch
            self._sched_total = max(1, self.trainer.estimated_stepping_batches)
            warm = hp.warmup_epochs * steps_per_epoch

            def factor(step: int) -> float:
                if step < warm:
                    return (step + 1) / warm
                total = self._sched_total
                return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))

            sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
        if hp.scheduler == "plateau":
            sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=3)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "monitor": "val_acc", "interval": "epoch"}}
        raise ValueError(f"unknown scheduler {hp.scheduler!r} (none, cosine, plateau)")
