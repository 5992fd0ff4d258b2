"""Extraction: alchemi's embedding loop against a bare inference_mode loop in plain torch.

Both embed the diamonds train split (43,152 rows; 7 numerical + 3 categorical columns) with
the example VAE architecture (latent 8, hidden [128, 64]) in batches of 4096, one thread:
  bare     bench/baselines.encode_all: a PlainVAE's encoder means over slices of in-memory
           tensors, written into one preallocated tensor
  alchemi  inference.loop.embed_all on the checkpoint api.load_model returns and a
           TabularDataLoader over the same file: exactly the loop `alchemi extract` runs
Target: alchemi >= 0.95x the bare rows/s (median of interleaved rounds).
"""

from __future__ import annotations

import tempfile

import torch
from baselines import PlainVAE, encode_all
from common import ROOT, diamonds_dir, interleaved, median, row

from alchemi_core import api
from alchemi_core.config.loading import load_config
from alchemi_core.inference import loop
from alchemi_core.tabular.loader import TabularDataLoader

BATCH = 4096


def run(quick: bool = False) -> list[dict]:
    rounds, repeat = (5, 3) if quick else (15, 5)
    d = diamonds_dir()
    with tempfile.TemporaryDirectory(prefix="alchemi-bench-extract-") as tmp:
        overrides = [
            "mlflow=null", "val=null", "checkpoint.metric=train_loss", "train.epochs=1",
            "train.loader_params.num_batches_per_epoch=2", "global.device=cpu",
            f"train.data_path={d / 'train.csv'}",
            f"data.cardinalities_path={d / 'cardinalities.json'}",
            f"experiment.output_dir={tmp}",
        ]  # fmt: skip
        cfg = load_config(ROOT / "configs/vae/diamonds.yaml", overrides)
        result = api.train(cfg)
        model, _ = api.load_model(result.best_checkpoint or result.last_checkpoint)
        loader = TabularDataLoader(str(d / "train.csv"), cfg.data, BATCH, shuffle=False)
    x, c = loader.tensors["numerical"], loader.tensors["categorical"]
    p = cfg.model.params
    plain = PlainVAE(x.shape[1], list(loader.spec.categorical.values()), p["hidden_dims"],
                     p["latent_dim"])  # fmt: skip
    device = torch.device("cpu")

    def bare() -> None:
        for _ in range(repeat):
            encode_all(plain, x, c, BATCH)

    def ours() -> None:
        for _ in range(repeat):
            loop.embed_all(model, loader, device)

    t = interleaved({"bare": bare, "alchemi": ours}, rounds)
    n = len(x) * repeat
    note = f"{len(x):,} rows x {repeat} passes, batch {BATCH}, {rounds} rounds"
    return [row("extract (embed loop)", n / median(t["bare"]), n / median(t["alchemi"]),
                "rows/s", ">= 0.95", note)]  # fmt: skip
