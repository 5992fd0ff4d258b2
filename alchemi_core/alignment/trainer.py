"""AlignmentTrainer: InfoNCE between lab and sensor towers, plus the cycle and band-depth heads.

The epoch and its validation live here; the run around it (folder, checkpoints, resume,
tracker) is run/runner.py's, through alignment/recipe.py.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
import torch.nn.functional as F

from alchemi_core import distributed
from alchemi_core.alignment import evaluation as ev
from alchemi_core.alignment import pairs, spectral, transfer
from alchemi_core.alignment.config import AlignmentConfig
from alchemi_core.alignment.model import AlignmentModel
from alchemi_core.errors import TrainingDiverged
from alchemi_core.nn.schedule import scheduled_lr, step_scheduler

log = logging.getLogger("alchemi")


class AlignmentTrainer:
    """One epoch of alignment training and its validation, over objects assembly built
    (assembly.build_alignment): it reads no file and builds no optimizer."""

    def __init__(
        self, cfg: AlignmentConfig, rt, data, model: AlignmentModel, optimizer, scheduler=None
    ):
        self.cfg, self.rt, self.data = cfg, rt, data
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.net = distributed.wrap(self.model)  # DDP under torchrun: gradients averaged
        self.base_lr = optimizer.param_groups[0]["lr"]
        dev = self.rt.device
        self.lab_feats = ev.lab_feats(
            self.model, self.data.lab_tokens_wl, self.data.lab_token_fwhm, dev
        )
        self.train_sensors = [s for s in self.data.sensors if not s.held_out]
        self.feats = {s.name: ev.band_feats(self.model, s.sensor, dev) for s in self.data.sensors}
        self.prior_args = {s.name: self.model.prior_args(s.sensor) for s in self.train_sensors}
        self.val_readings = self._val_readings()

    @classmethod
    def from_yaml(
        cls, path, overrides: list[str] | None = None, seed: int | None = None
    ) -> AlignmentTrainer:
        """The trainer of an alignment config file, built as `alchemi align train` builds it."""
        from alchemi_core import assembly, runtime
        from alchemi_core.alignment.config import load_alignment_config

        cfg = load_alignment_config(path, overrides)
        distributed.init(runtime.device_name(cfg))  # under torchrun: join the ranks
        return assembly.build_alignment(cfg, str(path), seed, cls).trainer

    def fit(self, tracker=None, overwrite: bool = False):
        """Train (or resume, or reuse a finished run of the same config and inputs) the run in
        {output_dir}/{name}/, as `alchemi align train` does: a RunResult."""
        from alchemi_core import assembly
        from alchemi_core.alignment import recipe
        from alchemi_core.boundary import writing_under
        from alchemi_core.run import runner

        tracker = assembly.run_tracker(self.cfg, tracker)
        with writing_under(
            self.cfg.experiment.output_dir, self.built.source, "experiment.output_dir"
        ):
            return runner.execute(recipe, self.built, tracker, overwrite)

    def _val_readings(self) -> dict[str, torch.Tensor]:
        """Fixed noisy readings of the validation spectra, one tensor per sensor."""
        idx = torch.from_numpy(self.data.val_idx)
        gen = torch.Generator().manual_seed(self.cfg.data.split_seed + 1)
        return {
            s.name: pairs.readings(self.data, s, idx, self.cfg.data.noise, gen)
            for s in self.data.sensors
        }

    def cycle_target(self, idx: torch.Tensor) -> torch.Tensor:
        """The lab spectra [len(idx), len(cycle grid)] the cycle head reconstructs."""
        d = self.data
        full = len(self.model.cycle_grid) == d.full_values.shape[1]
        return (d.full_values if full else d.lab_values)[idx]

    # -- one training epoch ---------------------------------------------------------
    def _batch_sensor(self):
        """A sensor for this batch: a training sensor or, if configured, a random band set.
        Returns (band features, band matrix, SensorData or None, Sensor, prior arguments)."""
        n_real, n_rand = len(self.train_sensors), self.cfg.data.random_sensors
        pick = int(torch.randint(n_real + n_rand, (1,)))
        if pick < n_real:
            s = self.train_sensors[pick]
            return self.feats[s.name], s.matrix, s, s.sensor, self.prior_args[s.name]
        gen = torch.Generator().manual_seed(int(torch.randint(2**31 - 1, (1,))))
        wl = self.data.lab.wavelengths
        s = spectral.random_sensor(gen, float(wl[0]) + 10, float(wl[-1]) - 10)
        m = torch.from_numpy(spectral.band_matrix(s, wl)).float()
        feats = ev.band_feats(self.model, s, self.rt.device)
        return feats, m, None, s, self.model.prior_args(s)

    def losses(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """The losses of this rank's part of the global batch `idx`.

        Every rank draws the augmentation (sensor, noise, dropped bands) of the whole batch
        from the same RNG stream, then keeps its own rows: the same draws as on one process."""
        cfg, d, rt = self.cfg, self.data, self.rt
        feats, matrix, sd, sensor, args = self._batch_sensor()
        if sd is not None:
            reading = pairs.readings(d, sd, idx, cfg.data.noise)
        else:
            reading = spectral.simulate(d.full_values[idx], matrix, cfg.data.noise).float()
        if cfg.data.band_dropout or cfg.data.cutoff_prob:
            c = torch.tensor(np.array(sensor.centres), dtype=torch.float32)
            reading = spectral.drop_bands(reading, c, cfg.data.band_dropout, cfg.data.cutoff_prob)
        mine = distributed.shard(torch.arange(len(idx)), pad=True)
        idx, reading = idx[mine], reading[mine]
        lab = d.lab_values[idx].to(rt.device, rt.dtype)
        reading = reading.to(rt.device, rt.dtype)
        args = {k: a.to(rt.device) for k, a in args.items()}
        with rt.autocast():
            lab_emb, sen_emb, heads = self.net(
                self.lab_feats.to(rt.dtype), lab, feats.to(rt.dtype), reading, **args
            )
        out = {"nce": self.model.info_nce(lab_emb, sen_emb)}
        total = out["nce"]
        if "cycle" in heads:
            lab = self.cycle_target(idx).to(rt.device)
            ok = torch.isfinite(lab)
            diff = (heads["cycle"].float() - torch.nan_to_num(lab).float())[ok]
            out["cycle"] = diff.pow(2).mean()
            total = total + cfg.cycle.weight * out["cycle"]
            if cfg.cycle.sam_weight:
                pred = torch.where(ok, heads["cycle"].float(), 0.0)
                cos = F.cosine_similarity(pred, torch.nan_to_num(lab).float(), dim=-1)
                out["cycle_cos"] = (1 - cos).mean()
                total = total + cfg.cycle.sam_weight * out["cycle_cos"]
        if "depth" in heads:
            target = d.depths[idx].to(rt.device)
            out["depth"] = F.mse_loss(heads["depth"].float(), target)
            total = total + cfg.banddepth.weight * out["depth"]
        out["loss"] = total
        return out

    def n_batches(self) -> int:
        t = self.cfg.trainer
        size = t.batch_size * distributed.world()  # the global batch: batch_size per rank
        n = max(1, len(self.data.train_idx) // size)
        return min(n, t.batches_per_epoch) if t.batches_per_epoch else n

    def lr_at(self, step: int) -> float:
        t = self.cfg.trainer
        total = t.epochs * self.n_batches()
        return scheduled_lr(step, self.base_lr, t.warmup_steps, total, t.lr_schedule)

    def train_epoch(self, epoch: int = 1) -> dict[str, float]:
        t = self.cfg.trainer
        self.model.train()
        order = torch.from_numpy(self.data.train_idx)[torch.randperm(len(self.data.train_idx))]
        size = t.batch_size * distributed.world()  # batch_size rows on each rank
        n_batches = self.n_batches()
        sums: dict[str, torch.Tensor] = {}
        for b in range(n_batches):
            if self.scheduler is None:  # a torch scheduler steps per epoch instead
                for group in self.optimizer.param_groups:
                    group["lr"] = self.lr_at((epoch - 1) * n_batches + b)
            idx = order[b * size : (b + 1) * size]
            out = self.losses(idx)
            if not torch.isfinite(distributed.reduce_sum(out["loss"].detach())):  # all ranks
                loss = float(out["loss"].detach())
                raise TrainingDiverged(
                    f"training loss is {loss} at epoch {epoch}, batch {b + 1}; "
                    "stopped (the last good checkpoint is kept)"
                )
            self.optimizer.zero_grad(set_to_none=True)
            out["loss"].backward()
            if t.grad_clip_norm:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), t.grad_clip_norm)
            self.optimizer.step()
            for k, v in out.items():
                sums[k] = sums.get(k, 0.0) + v.detach().float()
        total = distributed.reduce_sum(torch.stack(list(sums.values())))
        n = n_batches * distributed.world()  # the mean over ranks of each rank's mean
        return {f"train_{k}": float(v) / n for k, v in zip(sums, total, strict=True)}

    # -- validation -----------------------------------------------------------------
    def validate(self) -> dict[str, float]:
        self.model.eval()
        d, val = self.data, torch.from_numpy(self.data.val_idx)
        lab_emb, _ = ev.embed(self.model, "lab", self.lab_feats, d.lab_values[val], self.rt)
        depth = d.depths[val] if d.depths is not None else None
        metrics: dict[str, float] = {}
        groups: dict[str, list[dict]] = {"val": [], "val_heldout": []}
        for s in d.sensors:
            emb, heads = ev.embed(
                self.model,
                "sensor",
                self.feats[s.name],
                self.val_readings[s.name],
                self.rt,
                sensor=s.sensor,
            )
            known = transfer.physics(self.val_readings[s.name], d.full_values[val], s.matrix)
            k = self.cfg.rerank.candidates if self.cfg.rerank else None
            m = ev.sensor_metrics(lab_emb, emb, heads, self.cycle_target(val), depth, known, k)
            metrics.update({f"val_{k}/{s.name}": v for k, v in m.items()})
            groups["val_heldout" if s.held_out else "val"].append(m)
        for prefix, rows in groups.items():
            for key in rows[0] if rows else []:
                metrics[f"{prefix}_{key}"] = float(np.mean([r[key] for r in rows]))
        return {k: v for k, v in metrics.items() if not (isinstance(v, float) and math.isnan(v))}

    def epoch(self, epoch: int) -> dict[str, float]:
        """One epoch (and its validation when due): the metrics line for metrics.jsonl."""
        metrics = {"epoch": epoch, **self.train_epoch(epoch)}
        metrics["lr"] = self.optimizer.param_groups[0]["lr"]
        if epoch % self.cfg.trainer.val_frequency == 0 or epoch == self.cfg.trainer.epochs:
            # rank 0 validates on the whole set; the others wait for its metrics
            metrics.update(distributed.share(self.validate() if distributed.is_main() else None))
        step_scheduler(self.scheduler, metrics, "train_loss")
        return metrics
