"""Callbacks that keep the run directory: metrics CSV, best/last checkpoints, the loss-curve
figure, the JSON summary and the resumable Lightning state — each written atomically."""

from __future__ import annotations

import csv
import io
import os
import time

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar

from ferlab.card import make_card
from ferlab.checkpoint import save_checkpoint
from ferlab.data.ferplus import mode_classes
from ferlab.io import atomic_write, atomic_write_text
from ferlab.models import count_parameters
from ferlab.run_dir import RunDir
from ferlab.training.config import dump_config

METRIC_FIELDS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "train_seconds", "train_img_per_s"]


class EpochProgressBar(TQDMProgressBar):
    """Lightning's bar, with epochs counted as people count them: "Epoch 1/1", not "Epoch 0"."""

    def on_train_epoch_start(self, trainer, *_) -> None:
        # Lightning's own method with only the description changed (calling it would print its
        # 0-based "Epoch 0" once before ours replaced it)
        from lightning.pytorch.callbacks.progress.tqdm_progress import convert_inf

        if self._leave:
            self.train_progress_bar = self.init_train_tqdm()
        self.train_progress_bar.reset()
        self.train_progress_bar.total = convert_inf(self.total_train_batches)
        self.train_progress_bar.initial = 0
        self.train_progress_bar.set_description(f"Epoch {trainer.current_epoch + 1}/{trainer.max_epochs}")


def read_run_curves(runs: list[str | os.PathLike]) -> dict[str, list[dict]]:
    """{run name: metrics rows} for run directories (the name from summary.json, else the folder's)."""
    from ferlab.errors import FerlabError

    out = {}
    for r in map(RunDir, runs):
        if not r.metrics_file.is_file():
            raise FerlabError(f"{r}: not a run directory (no metrics.csv)")
        out[r.name] = r.metrics()
    return out


class RunRecorder(L.Callback):
    def __init__(self, run_dir: RunDir, cfg: dict, card_training: dict) -> None:
        self.run = RunDir(run_dir)
        self.cfg = cfg
        self.card_training = card_training
        self.best_acc = -1.0
        self.best_epoch = -1
        self._t0 = 0.0
        self._seen = 0
        self._train_seconds = 0.0
        self._drawn = 0.0

    # Lightning stores this in the resume checkpoint, so "best so far" survives a restart.
    def state_dict(self) -> dict:
        return {"best_acc": self.best_acc, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.best_acc = state["best_acc"]
        self.best_epoch = state["best_epoch"]

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._t0 = time.perf_counter()
        self._seen = 0
        self._train_seconds = 0.0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._seen += int(batch[1].numel())
        self._train_seconds = time.perf_counter() - self._t0

    def _card(self, pl_module, metrics: dict, epoch: int) -> dict:
        hp = pl_module.hparams
        # Models built from a hub name or folder describe themselves, so loading needs no download.
        card_config = getattr(pl_module.model, "card_config", None)
        return make_card(
            hp.architecture,
            card_config() if card_config else dict(hp.arch_config or {}),
            mean=hp.mean,
            std=hp.std,
            params=count_parameters(pl_module.model),
            name=self.cfg["name"],
            training={**self.card_training, "epoch": epoch},
            metrics=metrics,
            command=self.card_training.get("command"),
            classes=mode_classes(self.card_training.get("labels")),
        )

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        epoch = trainer.current_epoch
        m = {k: float(v) for k, v in trainer.callback_metrics.items()}
        world = trainer.world_size
        row = {
            "epoch": epoch + 1,
            "train_loss": m.get("train_loss"),
            "train_acc": m.get("train_acc"),
            "val_loss": m.get("val_loss"),
            "val_acc": m.get("val_acc"),
            "lr": trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else None,
            "train_seconds": round(self._train_seconds, 3),
            "train_img_per_s": round(self._seen * world / self._train_seconds, 2) if self._train_seconds else None,
        }
        improved = row["val_acc"] is not None and row["val_acc"] > self.best_acc
        if improved:
            self.best_acc, self.best_epoch = row["val_acc"], epoch + 1
        # The resumable state is written by every rank's call (Lightning writes on rank 0 only).
        ckpt = self.run.resume_checkpoint
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        tmp = ckpt.with_name(".last.ckpt.tmp")
        trainer.save_checkpoint(tmp)
        if not trainer.is_global_zero:
            return
        os.replace(tmp, ckpt)
        rows = [r for r in self.run.metrics() if r["epoch"] <= epoch]
        rows.append(row)
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=METRIC_FIELDS)
        w.writeheader()
        w.writerows(rows)
        atomic_write_text(self.run.metrics_file, buf.getvalue())
        metrics = {
            "val_accuracy": row["val_acc"],
            "val_loss": row["val_loss"],
            "epoch": epoch + 1,
            "selection": "val (PublicTest) accuracy",
        }
        save_checkpoint(pl_module.model, self._card(pl_module, metrics, epoch + 1), self.run.last)
        if improved:
            save_checkpoint(pl_module.model, self._card(pl_module, metrics, epoch + 1), self.run.best)
        # Drawing costs ~0.3 s; on a GPU an epoch can take little more, so draw at most every 20 s.
        last_epoch = epoch + 1 >= trainer.max_epochs
        if last_epoch or time.perf_counter() - self._drawn > 20:
            self._figure(rows)
            self._drawn = time.perf_counter()
        self._summary(trainer, pl_module, rows)

    def _figure(self, rows: list[dict]) -> None:
        from ferlab.figures import plot_loss_curves

        atomic_write(self.run.loss_curves, lambda tmp: plot_loss_curves({self.cfg["name"]: rows}, tmp, fmt="png"))

    def _summary(self, trainer, pl_module, rows: list[dict]) -> None:
        from ferlab.measure import machine_info

        speeds = sorted(r["train_img_per_s"] for r in rows if r.get("train_img_per_s"))
        best = next((r for r in rows if r["epoch"] == self.best_epoch), None)
        self.run.write_summary(
            {
                "name": self.cfg["name"],
                "architecture": pl_module.hparams.architecture,
                "parameters": count_parameters(pl_module.model),
                "epochs_completed": rows[-1]["epoch"],
                "epochs_planned": self.cfg["train"]["epochs"],
                "best": best,
                "last": rows[-1],
                "train_img_per_s_median": speeds[len(speeds) // 2] if speeds else None,
                "train_seconds_total": round(sum(r["train_seconds"] or 0 for r in rows), 1),
                "data": self.card_training.get("data"),
                "data_notes": self.card_training.get("data_notes"),
                "machine": machine_info(),
                "devices": trainer.world_size,
            },
        )


class EpochBudget(L.Callback):
    """Fit the epoch count to a wall-clock budget, once, from the measured time of one epoch.

    After `calibrate_epochs` epochs the remaining budget divided by the last epoch's time (the
    first carries one-off start-up costs) gives the total. The cosine schedule's end moves to
    it; its warm-up must cover the calibration epochs so that the learning rates used so far
    are those a rerun with the fixed count would use. The count goes into config.yaml.
    """

    def __init__(self, minutes: float, cfg: dict, run_dir: RunDir, card_training: dict, calibrate_epochs: int = 2):
        self.seconds = float(minutes) * 60
        self.cfg = cfg
        self.run = RunDir(run_dir)
        self.card_training = card_training
        self.calibrate_epochs = calibrate_epochs
        self.resolved: int | None = None
        self._t0 = 0.0
        self._epoch_t0 = 0.0

    def state_dict(self) -> dict:
        return {"resolved": self.resolved}

    def load_state_dict(self, state: dict) -> None:
        self.resolved = state["resolved"]

    def on_train_start(self, trainer, pl_module) -> None:
        self._t0 = time.perf_counter()

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._epoch_t0 = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        done = trainer.current_epoch + 1
        if self.resolved is not None or done < self.calibrate_epochs:
            return
        now = time.perf_counter()
        per_epoch = now - self._epoch_t0
        remaining = self.seconds - (now - self._t0)
        cap = int(self.cfg["train"]["epochs"])
        total = max(done, min(cap, done + int(0.97 * remaining / per_epoch)))
        self.resolved = total
        trainer.fit_loop.max_epochs = total
        pl_module.set_total_epochs(total)
        self.cfg["train"]["epochs"] = total
        self.cfg["train"]["budget_minutes"] = None  # a rerun of config.yaml repeats the count
        self.cfg["train"]["budget_resolved"] = {
            "minutes": self.seconds / 60,
            "epoch_seconds": round(per_epoch, 2),
            "cap": cap,
        }
        self.card_training["epochs"] = total
        if trainer.is_global_zero:
            self.run.write_config(dump_config(self.cfg))
            print(f"budget {self.seconds / 60:g} min: {per_epoch:.1f} s/epoch → {total} epochs", flush=True)


class GradualUnfreeze(L.Callback):
    """Unfreeze a pretrained backbone from the top down, as the study's V1.6.7 did.

    `schedule` maps epoch (0-based) → number of trainable last blocks, e.g. {0: 0, 3: 2, 6: 4};
    or, with `plateau_patience`, `step` more blocks whenever val loss has not improved for that
    many epochs. Its state is saved with the run, so a resumed run keeps its place.
    """

    def __init__(
        self,
        start: int = 0,
        schedule: dict | None = None,
        plateau_patience: int | None = None,
        step: int = 2,
        max_blocks: int | None = None,
    ) -> None:
        self.schedule = {int(k): int(v) for k, v in (schedule or {}).items()}
        self.trainable = start
        self.plateau_patience = plateau_patience
        self.step = step
        self.max_blocks = max_blocks
        self.best_loss = float("inf")
        self.bad_epochs = 0

    def state_dict(self) -> dict:
        return {"trainable": self.trainable, "best_loss": self.best_loss, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict) -> None:
        self.trainable, self.best_loss, self.bad_epochs = state["trainable"], state["best_loss"], state["bad_epochs"]

    def _apply(self, pl_module) -> None:
        n = len(pl_module.model.blocks)
        self.trainable = min(self.trainable, self.max_blocks or n, n)
        pl_module.model.set_trainable_blocks(self.trainable)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        for epoch, k in sorted(self.schedule.items()):
            if trainer.current_epoch >= epoch:
                self.trainable = max(self.trainable, k) if self.plateau_patience else k
        self._apply(pl_module)

    def on_validation_end(self, trainer, pl_module) -> None:
        if self.plateau_patience is None or trainer.sanity_checking:
            return
        loss = float(trainer.callback_metrics.get("val_loss", float("inf")))
        if loss < self.best_loss - 1e-4:
            self.best_loss, self.bad_epochs = loss, 0
        else:
            self.bad_epochs += 1
            if self.bad_epochs >= self.plateau_patience:
                self.trainable += self.step
                self.bad_epochs = 0
