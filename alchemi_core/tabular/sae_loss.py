from __future__ import annotations

import torch
from pydantic import Field, NonNegativeFloat, NonNegativeInt

from alchemi_core.registry import Params, register_loss
from alchemi_core.tabular.batching import Batch
from alchemi_core.tabular.loss import Loss

DENSE = 0.1  # a latent firing on more than this fraction of rows is dense
FOLD = 1 << 20  # kept batch elements before their column sums are taken (a few MB)


class SAELossParams(Params):
    sparsity_weight: NonNegativeFloat = Field(
        0.01, description="weight of the L1 penalty on latents scaled by decoder norms"
    )
    aux_weight: NonNegativeFloat = 1 / 32  # AuxK's weight (Gao et al. 2024), when the model has it
    warmup_epochs: NonNegativeInt = 0  # training: the sparsity weight ramps up over these epochs


@register_loss("SAELoss", params=SAELossParams)
class SAELoss(Loss):
    """loss = MSE + sparsity_weight * sparsity + aux_weight * aux.

    - sparsity: the model's own penalty per row ("sparsity" output: L1 for relu, L0 for
      jumprelu, none for topk and batchtopk), else sum_i f_i * ||W_dec_i||; mean over rows.
    - aux: AuxK, the MSE of the dead latents' reconstruction of the detached residual, times
      the model's scale (only when the model returns "aux_reconstruction").
    - warm-up: at training epoch e the sparsity weight is sparsity_weight * min(1, e / warmup).

    Per batch (averaged over rows by the trainer): reconstruction_loss, sparsity_loss, aux_loss,
    l0. Over the whole pass, from column sums (so independent of the batch size): fve (around
    the mean), nmse (SSE over the sum of squares around the mean), dead_fraction (latents that
    never fired), dense_fraction (latents firing on more than 10% of rows). In training, at the
    pass's end: dead_window_fraction (latents silent for the SAE's last `dead_window` rows).
    """

    reads = ("input", "reconstruction", "latents")  # model outputs it needs
    metric_names = (
        "reconstruction_loss", "sparsity_loss", "aux_loss", "l0", "dead_fraction",
        "dense_fraction", "fve", "nmse",
    )  # fmt: skip

    def __init__(self, sparsity_weight: float = 0.01, aux_weight: float = 1 / 32, warmup_epochs=0):
        super().__init__()
        if sparsity_weight < 0 or aux_weight < 0 or warmup_epochs < 0:
            raise ValueError("sparsity_weight, aux_weight and warmup_epochs must be >= 0")
        self.sparsity_weight = sparsity_weight
        self.aux_weight = aux_weight
        self.warmup_epochs = warmup_epochs
        self.ramp = 1.0
        self.reset()

    def start_epoch(self, epoch: int) -> None:
        self.ramp = min(1.0, epoch / self.warmup_epochs) if self.warmup_epochs else 1.0

    def reset(self) -> None:
        # Epoch column sums: fires (per latent, rows where it is > 0), sse, sx, sxx. The batches
        # are kept and summed together every FOLD elements: a few ops per fold, not per batch.
        # Plain containers, so no nn.Module.__setattr__ per batch.
        self._stats: dict[str, torch.Tensor] = {}
        self._kept: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        # rows and kept elements; "window": the model's dead-latent clock, (rows_since_fired,
        # dead_window), read at the epoch's end
        self._count: dict = {"rows": 0, "kept": 0, "window": None}

    def forward(self, out: dict, batch: Batch) -> dict[str, torch.Tensor]:
        x, x_hat, f = _f32(out["input"]), _f32(out["reconstruction"]), _f32(out["latents"])
        err = (x_hat - x).pow(2)
        mse = err.mean()
        if "sparsity" in out:
            sparsity = _f32(out["sparsity"]).mean()
        else:
            sparsity = (f * _f32(out["decoder_norms"])).sum(dim=1).mean()
        loss = mse + self.sparsity_weight * self.ramp * sparsity
        terms = {"reconstruction_loss": mse.detach(), "sparsity_loss": sparsity.detach()}
        if "aux_reconstruction" in out:
            residual = (x - x_hat).detach()
            aux = (_f32(out["aux_reconstruction"]) - residual).pow(2).mean() * out["aux_scale"]
            loss = loss + self.aux_weight * aux
            terms["aux_loss"] = aux.detach()
        if "rows_since_fired" in out:
            self._count["window"] = (out["rows_since_fired"], out["dead_window"])
        with torch.no_grad():  # epoch statistics: no graph
            fires = out.get("fires")  # the SAE counts them in training
            if fires is None:
                fires = (f > 0).sum(0, dtype=f.dtype)  # per latent, the rows where it fires
            self._keep(x, err.detach(), fires)
            l0 = fires.sum() / x.shape[0]
        return {"loss": loss, **terms, "l0": l0}

    def _keep(self, x: torch.Tensor, err: torch.Tensor, fires: torch.Tensor) -> None:
        self._kept.append((x, err, fires))
        self._count["rows"] += x.shape[0]
        self._count["kept"] += x.numel()
        if self._count["kept"] >= FOLD:
            self._fold()

    @torch.no_grad()
    def _fold(self) -> None:
        if not self._kept:
            return
        xs, errs, fires = zip(*self._kept, strict=True)
        x, err = torch.cat(xs), torch.cat(errs)
        sums = {"fires": torch.stack(fires).sum(0), "sse": err.sum(0), "sx": x.sum(0),
                "sxx": (x * x).sum(0)}  # fmt: skip
        if not self._stats:
            self._stats = sums
        else:
            for k, v in sums.items():
                self._stats[k].add_(v)
        self._kept.clear()
        self._count["kept"] = 0

    def sync(self, reduce_sum) -> None:
        self._fold()
        if not self._stats:
            return
        self._stats = {k: reduce_sum(v) for k, v in self._stats.items()}
        device = self._stats["sse"].device
        rows = torch.tensor(float(self._count["rows"]), device=device)
        self._count["rows"] = int(reduce_sum(rows).item())

    def epoch_metrics(self) -> dict[str, float]:
        self._fold()
        if not self._stats:
            return {}
        out = sae_metrics(self._stats, self._count["rows"])
        if self._count["window"] is not None:  # at the epoch's end: silent for the last window
            since, window = self._count["window"]
            out["dead_window_fraction"] = (since >= window).double().mean().item()
        return out


def sae_metrics(s: dict[str, torch.Tensor], n: int) -> dict[str, float]:
    """The whole-pass metrics from column sums over n rows (see SAELoss)."""
    s = {k: v.double() for k, v in s.items()}
    sst = (s["sxx"] - s["sx"].pow(2) / n).sum().clamp_min(1e-12)
    nmse = (s["sse"].sum() / sst).item()
    freq = s["fires"] / n
    return {
        "dead_fraction": (freq == 0).double().mean().item(),
        "dense_fraction": (freq > DENSE).double().mean().item(),
        "fve": 1.0 - nmse,
        "nmse": nmse,
    }


def _f32(t: torch.Tensor) -> torch.Tensor:
    return t if t.dtype == torch.float32 else t.float()
