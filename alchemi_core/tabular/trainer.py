"""The training loop, and nothing else: it knows no files, trackers or configs.

It is handed a model that returns its outputs, a loss that returns its own terms and loaders;
`epoch(n)` trains one epoch and returns its metrics line. Host syncs: one per epoch.
The run around it (folder, checkpoints, early stopping) is run/runner.py's.
"""

from __future__ import annotations

import time
from contextlib import nullcontext

import torch

from alchemi_core import distributed, progress
from alchemi_core.errors import TrainingDiverged
from alchemi_core.nn.schedule import step_scheduler
from alchemi_core.runtime import Runtime
from alchemi_core.tabular.batching import Batch, BatchLoader


def to_device(batch: Batch, device: torch.device, dtype: torch.dtype) -> Batch:
    """Floats to the run's dtype, everything to its device (no copy when already there)."""
    return {
        k: v.to(device, dtype, non_blocking=True)
        if v.is_floating_point()
        else v.to(device, non_blocking=True)
        for k, v in batch.items()
    }


def needs_move(batch: Batch, device: torch.device, dtype: torch.dtype) -> bool:
    return any(
        v.device != device or (v.is_floating_point() and v.dtype != dtype) for v in batch.values()
    )


class Trainer:
    def __init__(
        self,
        model: torch.nn.Module,
        loss_fn,
        optimizer,
        train_loader: BatchLoader | None,
        runtime: Runtime,
        epochs: int,
        val_loader: BatchLoader | None = None,
        val_loss_fn=None,
        val_frequency: int = 1,
        scheduler=None,
        grad_clip_norm: float | None = None,
    ):
        self.model = model
        self.net = distributed.wrap(model)  # DDP under torchrun: gradients averaged over ranks
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.train_loader = train_loader
        self.rt = runtime
        self.epochs = epochs
        self.val_loader = val_loader
        self.val_loss_fn = val_loss_fn
        self.val_frequency = val_frequency
        self.scheduler = scheduler
        self.grad_clip_norm = grad_clip_norm
        fp16 = runtime.amp_dtype is torch.float16 and runtime.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=fp16)
        # optional model hooks around each optimizer step (the SAE keeps unit-norm decoder rows)
        self._before_step = getattr(model, "before_step", None)
        self._after_step = getattr(model, "after_step", None)

    # -- one pass ----------------------------------------------------------------
    def _run_epoch(
        self, loader: BatchLoader, loss_fn, train: bool, epoch: int, bar=None
    ) -> dict[str, float]:
        """One pass. The hot loop only keeps each batch's terms; they are weighted, summed and
        read (one host sync) after the last batch."""
        self.model.train(train)
        net = self.net if train else self.model  # validation needs no gradient sync
        loss_fn.reset()
        kept: list[dict[str, torch.Tensor]] = []
        sizes: list[int] = []
        move = None  # decided on the first batch: CPU float32 batches need no conversion
        grad = nullcontext() if train else torch.inference_mode()
        with grad:
            for batch in loader:
                if move is None:
                    move = needs_move(batch, self.rt.device, self.rt.dtype)
                if move:
                    batch = to_device(batch, self.rt.device, self.rt.dtype)
                with self.rt.autocast():
                    terms = loss_fn(net(batch), batch)
                if train:
                    self._step(terms["loss"])
                    terms["loss"] = terms["loss"].detach()
                kept.append(terms)
                sizes.append(len(next(iter(batch.values()))))
                if bar is not None:
                    bar.update(1)
        keys, sums, rows, losses = self._sums(kept, sizes)
        if distributed.world() > 1:
            keys, sums, rows = self._reduce(keys, sums, rows, loss_fn)
        if keys is None:
            return {}
        finite = torch.isfinite(losses)
        if not bool(finite.all()):
            bad = int((~finite).nonzero()[0, 0]) + 1
            split = "training" if train else "validation"
            raise TrainingDiverged(
                f"{split} loss is {losses[bad - 1].item()} at epoch {epoch}, batch {bad}; "
                "stopped (the last good checkpoint is kept)"
            )
        out = dict(zip(keys, (sums / rows).tolist(), strict=True))
        out.update(loss_fn.epoch_metrics())
        return out

    @staticmethod
    def _sums(kept: list[dict], sizes: list[int]):
        """(keys, row-weighted sums [K], rows, per-batch losses) of this rank's batches."""
        if not kept:
            return None, None, 0, torch.zeros(1)
        keys = list(kept[0])
        cols = torch.stack([torch.stack([t[k] for t in kept]).detach().float() for k in keys])
        weights = torch.tensor(sizes, dtype=cols.dtype, device=cols.device)
        return keys, (cols * weights).sum(dim=1), sum(sizes), cols[keys.index("loss")]

    def _reduce(self, keys, sums, rows, loss_fn):
        """Data parallel: sums and row counts over every rank (a rank may have no rows)."""
        keys = next((k for k in distributed.gather(keys) if k is not None), None)
        if keys is None:
            return None, None, 0
        if sums is None:
            sums = torch.zeros(len(keys), device=self.rt.device)
        total = distributed.reduce_sum(torch.cat([sums, sums.new_tensor([float(rows)])]))
        if hasattr(loss_fn, "sync"):
            loss_fn.sync(distributed.reduce_sum)
        return keys, total[:-1], int(total[-1].item())

    def evaluate(self, loader: BatchLoader | None = None, loss_fn=None, epoch: int = 0):
        """The loss terms over every batch of `loader` (default: the val loader), no grad."""
        loader = loader if loader is not None else self.val_loader
        loss_fn = loss_fn if loss_fn is not None else self.val_loss_fn
        return self._run_epoch(loader, loss_fn, False, epoch, None)

    def _step(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        if not self.scaler.is_enabled():  # CPU, fp32 and bf16: no scaler calls at all
            loss.backward()
            if self._before_step is not None:
                self._before_step()
            if self.grad_clip_norm:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip_norm)
            self.optimizer.step()
        else:
            self.scaler.scale(loss).backward()
            if self._before_step is not None:
                self._before_step()  # linear in the gradient: the scale does not matter
            if self.grad_clip_norm:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip_norm)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        if self._after_step is not None:
            self._after_step()

    def _step_scheduler(self, metrics: dict[str, float]) -> None:
        """Per epoch; ReduceLROnPlateau watches val_loss on the epochs validation runs
        (train_loss when the run has no validation)."""
        watched = "val_loss" if self.val_loader is not None else "train_loss"
        step_scheduler(self.scheduler, metrics, watched)

    # -- one epoch ---------------------------------------------------------------
    def epoch(self, epoch: int) -> dict[str, float]:
        """Train epoch `epoch` (and validate when due): its metrics line."""
        t0 = time.perf_counter()
        n_batches = len(self.train_loader)
        metrics = {"epoch": epoch, "lr": self.optimizer.param_groups[0]["lr"]}
        if hasattr(self.loss_fn, "start_epoch"):
            self.loss_fn.start_epoch(epoch)
        with progress.bar(n_batches, f"epoch {epoch}/{self.epochs}") as bar:
            train_m = self._run_epoch(self.train_loader, self.loss_fn, True, epoch, bar)
        metrics.update({f"train_{k}": v for k, v in train_m.items()})
        if self.val_loader is not None and epoch % self.val_frequency == 0:
            val_m = self.evaluate(epoch=epoch)
            metrics.update({f"val_{k}": v for k, v in val_m.items()})
        self._step_scheduler(metrics)
        metrics["epoch_seconds"] = time.perf_counter() - t0
        return metrics
