"""MAE harness speed: tokens/s of our training step vs a bare PyTorch encoder-decoder loop.

Runs `api.pretrain_mae` on the shipped config's sizes in the spec's benchmark mode (synthetic
random tokens): per masking ratio it trains, then times our step (MAE from build_set_encoder,
AdamW) and the bare loop (alchemi_core/mae/bare.py: nn.TransformerEncoderLayer only)
over the same batches, same process, one thread: a warm-up pass, then alternating repeats,
medians. Target: our step keeps at least TARGET of the bare loop's tokens/s.

    python bench/mae_speed.py [--quick]
"""

from __future__ import annotations

import sys
import tempfile

import torch
from common import ROOT

from alchemi_core import api
from alchemi_core.config.loading import load_config
from alchemi_core.mae.config import MAEConfig
from alchemi_core.mae.harness import table

TARGET = 0.9


def settings(quick: bool) -> list[str]:
    if quick:
        return ["train.steps=20", "train.bench_repeats=3", "train.bench_steps=5"]
    return ["train.steps=200", "train.bench_repeats=7", "train.bench_steps=20"]


def measure(quick: bool) -> list[dict]:
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as out:
        changes = [
            "train.data=synthetic",
            "global.device=cpu",
            "mlflow=null",
            f"experiment.output_dir={out}",
            *settings(quick),
        ]
        cfg = load_config(ROOT / "configs/train.mae.yaml", changes, model=MAEConfig)
        return api.pretrain_mae(cfg, source="bench/mae_speed.py").rows


def run(quick: bool) -> list[dict]:
    """Rows for bench/run.py: case, baseline, alchemi, unit, ratio, target, met, note."""
    return [
        {
            "case": f"MAE train step, mask {r['mask_ratio']}",
            "baseline": round(r["bare_tokens_per_s"]),
            "alchemi": round(r["tokens_per_s"]),
            "unit": "tokens/s",
            "ratio": round(r["speed_ratio"], 3),
            "target": f">= {TARGET}",
            "met": r["speed_ratio"] >= TARGET,
            "note": f"masked loss {r['masked_loss']:.4f} (synthetic tokens: ~1 is chance)",
        }
        for r in measure(quick)
    ]


def main() -> int:
    quick = "--quick" in sys.argv
    rows = measure(quick)
    print("MAE harness (synthetic tokens, configs/train.mae.yaml sizes, 1 thread)")
    print(table(rows))
    worst = min(r["speed_ratio"] for r in rows)
    print(f"worst ratio ours/bare tokens/s: {worst:.3f} (target >= {TARGET})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
