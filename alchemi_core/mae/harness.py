"""`alchemi pretrain-mae`: train one MAE per masking ratio, report masked loss and tokens/s.

Run folder ({output_dir}/{name}/), as for `alchemi train`: config.yaml, run.json,
metrics.jsonl (a line every train.log_every steps; "epoch" is the global step) and
checkpoints/last_model.pt (every train.checkpoint_every steps and at each ratio's end). A killed
run started again resumes from its last checkpoint and gives the same losses: batches and masks
are a function of (seed, ratio, step), and the checkpoint holds every other state.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch

from alchemi_core import faults, runtime
from alchemi_core.alignment import mlflow_model as mlflow_spectral
from alchemi_core.config.loading import load_config
from alchemi_core.errors import TrainingDiverged
from alchemi_core.mae import bare as mae_bare
from alchemi_core.mae.config import MAEConfig
from alchemi_core.mae.data import Tokens, load_tokens, make_batch, step_generator
from alchemi_core.mae.folder import MAEFolder
from alchemi_core.mae.model import MAE
from alchemi_core.run.tracking import NullTracker

log = logging.getLogger("alchemi")
COLUMNS = ("mask_ratio", "masked_loss", "tokens_per_s", "bare_tokens_per_s", "speed_ratio")


@dataclass
class MAEResult:
    run_dir: str
    status: str  # finished | already_finished
    rows: list[dict] = field(default_factory=list)
    data: dict = field(default_factory=dict)
    resumed_from_step: int | None = None
    config_hash: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_model(cfg: MAEConfig, rt: runtime.Runtime) -> MAE:
    t = cfg.train
    model = MAE(
        t.token_dim,
        t.num_tokens,
        t.embed_dim,
        t.depth,
        t.heads,
        t.encoder_kind,
        t.decoder_dim,
        t.decoder_depth,
    )
    return model.to(device=rt.device, dtype=rt.dtype)


def make_optimizer(cfg: MAEConfig, params) -> torch.optim.Optimizer:
    return torch.optim.AdamW(
        params, lr=cfg.train.learning_rate, weight_decay=cfg.train.weight_decay
    )


def train_step(model, opt, rt: runtime.Runtime, tokens, visible, masked) -> torch.Tensor:
    with rt.autocast():
        loss = model(tokens, visible, masked)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()


@torch.no_grad()
def masked_loss(model, data: Tokens, cfg: MAEConfig, rt, ratio: float, seed: int) -> float:
    model.eval()
    g = torch.Generator().manual_seed(seed + 7)
    losses = []
    for _ in range(cfg.train.eval_batches):
        with rt.autocast():
            losses.append(float(model(*make_batch(data.eval, cfg.train.batch_size, ratio, g))))
    model.train()
    return sum(losses) / len(losses)


def speed(model, cfg: MAEConfig, rt, data: Tokens, ratio: float, seed: int) -> tuple:
    """tokens/s of our training step and of the bare PyTorch loop, over the same batches
    (copies of the models: the run's state is untouched). Warm-up, then alternating repeats;
    the median of each."""
    t = cfg.train
    if t.bench_repeats == 0:
        return None, None
    g = torch.Generator().manual_seed(seed + 11)
    batches = [make_batch(data.train, t.batch_size, ratio, g) for _ in range(t.bench_steps)]
    ours = build_model(cfg, rt)
    ours.load_state_dict(model.state_dict())
    our_opt = make_optimizer(cfg, ours.parameters())
    bare = mae_bare.BareMAE(t.token_dim, t.num_tokens, t.embed_dim, t.depth, t.heads,
                            t.decoder_dim, t.decoder_depth).to(rt.device, rt.dtype)  # fmt: skip
    bare_step = mae_bare.bare_step_fn(bare, t.learning_rate, rt.autocast)

    def our_step(*b):
        train_step(ours, our_opt, rt, *b)

    return mae_bare.compare(our_step, bare_step, batches, t.bench_repeats)


def ratio_row(model, cfg: MAEConfig, rt, data: Tokens, ratio: float) -> dict:
    """The table row of a trained MAE: held-out masked loss and tokens/s (ours, bare)."""
    with torch.random.fork_rng(devices=[]):  # building the timed copies leaves no trace
        ours, bare = speed(model, cfg, rt, data, ratio, rt.seed)
    return {
        "mask_ratio": ratio,
        "masked_loss": masked_loss(model, data, cfg, rt, ratio, rt.seed),
        "tokens_per_s": ours,
        "bare_tokens_per_s": bare,
        "speed_ratio": ours / bare if ours and bare else None,
    }


class LossSum:
    """The training losses of a logging interval, summed on the device: reading the total is
    the only host sync (once per interval, not per step). The first non-finite loss is kept."""

    def __init__(self, device: torch.device, start: float = 0.0):
        dtype = torch.float32 if device.type == "mps" else torch.float64
        self.sum = torch.tensor(start, dtype=dtype, device=device)
        self.bad_step = torch.zeros((), dtype=dtype, device=device)  # 0: every loss finite
        self.bad_loss = torch.zeros((), dtype=dtype, device=device)

    def add(self, loss: torch.Tensor, step: int) -> None:
        loss = loss.to(self.sum.dtype)
        first = (self.bad_step == 0) & ~torch.isfinite(loss)
        self.bad_step = torch.where(first, step, self.bad_step)
        self.bad_loss = torch.where(first, loss, self.bad_loss)
        self.sum += loss

    def total(self, ratio: float) -> float:
        """The sum so far; TrainingDiverged if a loss was NaN or infinite."""
        total, step, loss = torch.stack([self.sum, self.bad_step, self.bad_loss]).tolist()
        if step:
            raise TrainingDiverged(f"loss is {loss} at step {int(step)} of mask ratio {ratio}")
        return total

    def reset(self) -> None:
        self.sum.zero_()


def train_ratio(folder: MAEFolder, cfg, rt, data, i: int, start_step: int, ckpt) -> dict:
    """Train the MAE of masking ratio i from start_step (after `ckpt`); returns its row.
    Per step: metrics line, then checkpoint: a kill between them resumes exactly."""
    t, ratio = cfg.train, cfg.train.mask_ratios[i]
    runtime.seed_everything(rt.seed + i)
    model = build_model(cfg, rt)
    opt = make_optimizer(cfg, model.parameters())
    loss_sum, loss_n = 0.0, 0
    if ckpt is not None:
        model.load_state_dict(ckpt["model_state"])
        opt.load_state_dict(ckpt["optimizer_state"])
        runtime.set_rng_state(ckpt["training"]["rng"])
        loss_sum, loss_n = ckpt["training"]["loss_sum"], ckpt["training"]["loss_n"]
    model.train()
    row: dict = {}
    acc = LossSum(rt.device, loss_sum)
    for step in range(start_step + 1, t.steps + 1):
        batch = make_batch(data.train, t.batch_size, ratio, step_generator(rt.seed, i, step))
        acc.add(train_step(model, opt, rt, *batch), step)
        loss_n += 1
        faults.point("mae.step")
        last = step == t.steps
        log_now = step % t.log_every == 0 or last
        if log_now or step % t.checkpoint_every == 0:  # a NaN stops before any line or save
            loss_sum = acc.total(ratio)
        if log_now:
            line = {"epoch": i * t.steps + step, "step": step, "mask_ratio": ratio}
            line["train_loss"] = loss_sum / loss_n
            loss_sum, loss_n = 0.0, 0
            acc.reset()
            if last:
                row = ratio_row(model, cfg, rt, data, ratio)
                line.update({f"val_{k}": v for k, v in row.items() if k != "mask_ratio"})
            folder.append_metrics(line)
        if step % t.checkpoint_every == 0 or last:
            training = {"ratio_index": i, "step": step, "rng": runtime.rng_state(),
                        "rows": [*folder.rows, row] if row else folder.rows,
                        "loss_sum": loss_sum, "loss_n": loss_n}  # fmt: skip
            folder.save(i * t.steps + step, model, opt, training)
            faults.point("mae.saved")
    return row


def run_pretrain_mae(
    cfg: MAEConfig | str | Path,
    source: str | None = None,
    cli_seed: int | None = None,
    tracker=None,
    overwrite: bool = False,
) -> MAEResult:
    """Train and measure every masking ratio; returns an MAEResult (rows as in the table).
    `cfg` is a validated MAEConfig or a YAML path."""
    if not isinstance(cfg, MAEConfig):
        cfg, source = load_config(cfg, model=MAEConfig), str(cfg)
    source = source or "<config>"
    rt = runtime.resolve_runtime(cfg, cli_seed, source)
    runtime.apply(rt)
    data = load_tokens(cfg.train, rt.seed, source)
    data.train, data.eval = (x.to(rt.device, rt.dtype) for x in (data.train, data.eval))
    folder = MAEFolder(cfg, rt, source, tracker or NullTracker(), overwrite)
    with folder.claimed():
        state, ckpt = folder.inspect()
        result = MAEResult(str(folder.run_dir), "finished", data=data.info, config_hash=folder.hash)
        if state == "finished":
            log.info("%s already finished (config %s); nothing to do", folder.run_dir, folder.hash)
            result.status, result.rows = "already_finished", folder.finished_rows()
            return result
        i0, s0 = 0, 0
        if ckpt is not None:
            i0, s0 = ckpt["training"]["ratio_index"], ckpt["training"]["step"]
            folder.rows = list(ckpt["training"]["rows"])
            result.resumed_from_step = int(ckpt["epoch"])
            if s0 == cfg.train.steps:  # that ratio was complete
                i0, s0, ckpt = i0 + 1, 0, None
        folder.begin(start_message(cfg, rt, source, folder.run_dir), data.info, ckpt)
        try:
            for i in range(i0, len(cfg.train.mask_ratios)):
                folder.rows.append(train_ratio(folder, cfg, rt, data, i, s0, ckpt))
                s0, ckpt = 0, None
        except BaseException as exc:
            folder.fail(exc)
            raise
        folder.finish(partial(mlflow_spectral.mae, cfg=cfg, data=data, build=build_model))
        result.rows = folder.rows
        return result


def start_message(cfg: MAEConfig, rt: runtime.Runtime, source: str, run_dir: Path) -> str:
    return f"pretraining MAE {cfg.experiment.name!r} from {source}: {rt.summary()} -> {run_dir}"


def table(rows: list[dict]) -> str:
    def fmt(v):
        if v is None:
            return "-"
        return f"{v:.4f}" if isinstance(v, float) and v < 100 else f"{v:,.0f}"

    cells = [list(COLUMNS)] + [[fmt(r.get(k)) for k in COLUMNS] for r in rows]
    widths = [max(len(row[j]) for row in cells) for j in range(len(COLUMNS))]
    lines = [" | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)
