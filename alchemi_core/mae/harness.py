"""The MAE harness's measurements: the training step, held-out masked loss, tokens/s against a
bare PyTorch loop (bare.py), the loss sum of a logging interval, and the printed table.
The run itself (folder, resume, checkpoints) is the runner's, through mae/recipe.py.
"""

from __future__ import annotations

import logging

import torch

from alchemi_core import runtime
from alchemi_core.errors import TrainingDiverged
from alchemi_core.mae import bare as mae_bare
from alchemi_core.mae.config import MAEConfig
from alchemi_core.mae.data import Tokens, make_batch

log = logging.getLogger("alchemi")
COLUMNS = ("mask_ratio", "masked_loss", "tokens_per_s", "bare_tokens_per_s", "speed_ratio")


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


def speed(model, cfg: MAEConfig, rt, data: Tokens, ratio: float, seed: int, make) -> tuple:
    """tokens/s of our training step and of the bare PyTorch loop, over the same batches
    (copies of the models, `make(rt)` -> (MAE, optimizer, scheduler): the run's state is
    untouched). Warm-up, then alternating repeats;
    the median of each."""
    t = cfg.train
    if t.bench_repeats == 0:
        return None, None
    g = torch.Generator().manual_seed(seed + 11)
    batches = [make_batch(data.train, t.batch_size, ratio, g) for _ in range(t.bench_steps)]
    ours, our_opt, _ = make(rt)
    ours.load_state_dict(model.state_dict())
    bare = mae_bare.BareMAE(t.token_dim, t.num_tokens, t.embed_dim, t.depth, t.heads,
                            t.decoder_dim, t.decoder_depth).to(rt.device, rt.dtype)  # fmt: skip
    bare_step = mae_bare.bare_step_fn(bare, t.optimizer_block().learning_rate, rt.autocast)

    def our_step(*b):
        train_step(ours, our_opt, rt, *b)

    return mae_bare.compare(our_step, bare_step, batches, t.bench_repeats)


def ratio_row(model, cfg: MAEConfig, rt, data: Tokens, ratio: float, make) -> dict:
    """The table row of a trained MAE: held-out masked loss and tokens/s (ours, bare)."""
    with torch.random.fork_rng(devices=[]):  # building the timed copies leaves no trace
        ours, bare = speed(model, cfg, rt, data, ratio, rt.seed, make)
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
