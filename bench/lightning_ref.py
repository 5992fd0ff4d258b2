"""PyTorch Lightning on the same model and data: where alchemi stands against what users pick.

The LightningModule wraps bench/baselines.PlainVAE and its loss; data comes the usual Lightning
way, a DataLoader over a TensorDataset (shuffled, batch 256), with Lightning's default
per-epoch checkpoint and a CSV logger. Needs the `bench` extra (pip install -e '.[bench]').
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import lightning as L
import torch
from baselines import PlainVAE, train_vae, vae_loss
from common import interleaved, median, row
from torch.utils.data import DataLoader, TensorDataset

for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
    logging.getLogger(name).setLevel(logging.ERROR)
warnings.filterwarnings("ignore", module="lightning")


class Module(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.model = PlainVAE(32, [], [256, 128], 32)

    def training_step(self, batch, _):
        (x,) = batch
        loss = vae_loss(self.model(x), x, None)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)


def lightning_row(x: torch.Tensor, epochs: int, tmp: Path, quick: bool) -> dict:
    rounds = 3 if quick else 5

    def hand() -> None:
        torch.manual_seed(0)
        train_vae(PlainVAE(32, [], [256, 128], 32), x, None, epochs, 256, 1e-3, 1.0)

    def lightning() -> None:
        torch.manual_seed(0)
        loader = DataLoader(TensorDataset(x), batch_size=256, shuffle=True)
        trainer = L.Trainer(
            max_epochs=epochs,
            accelerator="cpu",
            devices=1,
            default_root_dir=str(tmp / "lightning"),
            logger=L.pytorch.loggers.CSVLogger(str(tmp / "lightning")),
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        trainer.fit(Module(), loader)

    t = interleaved({"hand": hand, "lightning": lightning}, rounds)
    n = len(x) * epochs
    note = "reference, not alchemi: DataLoader(TensorDataset), checkpoint + CSV logger"
    return row("train VAE: Lightning", n / median(t["hand"]), n / median(t["lightning"]),
               "rows/s", None, note)  # fmt: skip
