"""Training throughput: alchemi against a plain-torch hand loop (bench/baselines.py).

Cases (rows/s, median of interleaved rounds, both sides on the same pinned thread count):
  vae-200k   200,000 x 32 parquet, VAE latent 32, hidden [256, 128], batch 256, Adam,
             save_strategy last
  vae-diam   the diamonds VAE config (7 numerical + 3 categorical columns), save_strategy last
  sae        100,000 x 32 embeddings (.npy), SAE hidden 128, batch 256
alchemi runs with a checkpoint, a metrics line, run.json and MLflow metrics every epoch (MLflow
on a SQLite store in a temp folder). Its figure is the time of the runner's epochs (the epochs and
their per-epoch writes); the per-run fixed cost (MLflow run start/finish, artifacts) is in the
note. Data loading and model building happen before the clock on both sides.
"""

from __future__ import annotations

import itertools
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from baselines import PlainSAE, PlainVAE, train_sae, train_vae
from common import ROOT, diamonds_dir, interleaved, median, row, skipped

from alchemi_core import api, assembly
from alchemi_core.config.loading import load_config
from alchemi_core.run import runner as alchemi_run
from alchemi_core.tabular import recipe as tabular

_names = itertools.count()


class FitClock:
    """Times the runner's epochs (each with its checkpoint, metrics and tracker writes) and the
    wait for the last epoch-end writes."""

    def __enter__(self):
        self.orig = alchemi_run.train
        clock = self

        def train(*a, **k):
            t0 = time.perf_counter()
            try:
                return clock.orig(*a, **k)
            finally:
                clock.seconds = time.perf_counter() - t0

        alchemi_run.train = train
        return self

    def __exit__(self, *exc):
        alchemi_run.train = self.orig


def alchemi_side(cfg_dict: dict, fixed: list[float]):
    """A callable: build (untimed), then execute a fresh run; returns the fit seconds."""

    def go() -> float:
        cfg = api.as_config(cfg_dict, api.TrainingConfig)[0]
        cfg.experiment.name = f"run{next(_names)}"
        built = assembly.build(cfg, "bench")
        with FitClock() as clock:
            t0 = time.perf_counter()
            alchemi_run.execute(tabular, built, assembly.build_tracker(cfg.mlflow))
            fixed.append(time.perf_counter() - t0 - clock.seconds)
        return clock.seconds

    return go


def base_config(tmp: Path, data_path: str, epochs: int, **sections) -> dict:
    cfg = {
        "global": {"seed": 0, "device": "cpu", "threads": 1},
        "experiment": {"name": "x", "output_dir": str(tmp / "runs")},
        "train": {
            "data_path": data_path,
            "loader_class": "TabularDataLoader",
            "loader_params": {"batch_size": 256, "shuffle": True},
            "epochs": epochs,
            "optimizer_config": {"optimizer": "Adam", "learning_rate": 0.001},
            "loss": {"class": "VAELoss", "params": {"beta": 1.0}},
        },
        "checkpoint": {"metric": "train_loss", "mode": "min", "save_strategy": "last"},
        "mlflow": {"tracking_uri": f"sqlite:///{tmp}/mlflow.db", "experiment_name": "bench"},
    }
    for k, v in sections.items():
        cfg[k] = {**cfg.get(k, {}), **v} if isinstance(v, dict) else v
    return cfg


def synthetic(rows: int, cols: int, seed: int = 0) -> np.ndarray:
    """Low-rank structure plus noise, standardised: a table a VAE has something to learn on."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 8)) @ rng.normal(size=(8, cols)) + 0.3 * rng.normal(
        size=(rows, cols)
    )
    return ((x - x.mean(0)) / x.std(0)).astype(np.float32)


def measure(case: str, hand, ours, rows: int, epochs: int, rounds: int, fixed: list) -> dict:
    t = interleaved({"hand": hand, "alchemi": ours}, rounds)
    base, mine = rows * epochs / median(t["hand"]), rows * epochs / median(t["alchemi"])
    note = (f"{epochs} epochs x {rows:,} rows, {rounds} rounds; run fixed cost "
            f"{median(fixed):.2f}s (MLflow start/finish, artifacts)")  # fmt: skip
    return row(case, base, mine, "rows/s", ">= 0.97", note)


def vae_200k(tmp: Path, quick: bool) -> tuple[dict, tuple]:
    rows, epochs, rounds = (20_000, 1, 3) if quick else (200_000, 2, 5)
    x = synthetic(rows, 32)
    path = tmp / "wide.parquet"
    pd.DataFrame(x, columns=[f"f{i}" for i in range(32)]).to_parquet(path)
    cfg = base_config(
        tmp, str(path), epochs,
        model={"class": "VAE", "params": {"latent_dim": 32, "hidden_dims": [256, 128]}},
        data={"columns": {"numerical": [f"f{i}" for i in range(32)]}},
    )  # fmt: skip
    xt = torch.from_numpy(x)

    def hand() -> None:
        torch.manual_seed(0)
        train_vae(PlainVAE(32, [], [256, 128], 32), xt, None, epochs, 256, 1e-3, 1.0)

    fixed: list[float] = []
    r = measure(
        f"train VAE {rows // 1000}k x 32",
        hand,
        alchemi_side(cfg, fixed),
        rows,
        epochs,
        rounds,
        fixed,
    )
    return r, (xt, epochs, tmp)


def vae_diamonds(tmp: Path, quick: bool) -> dict:
    d = diamonds_dir()
    epochs, rounds = (1, 2) if quick else (3, 5)
    src = load_config(ROOT / "configs/vae/diamonds.yaml").model_dump(mode="json", by_alias=True)
    cfg = base_config(
        tmp, str(d / "train.csv"), epochs,
        model=src["model"], data={**src["data"], "cardinalities_path": str(d / "cardinalities.json")},
    )  # fmt: skip
    cfg["train"]["optimizer_config"]["learning_rate"] = 0.002
    cfg["train"]["loss"] = src["train"]["loss"]
    cols = cfg["data"]["columns"]
    frame = pd.read_csv(d / "train.csv")
    cards = json.loads((d / "cardinalities.json").read_text())
    x = torch.tensor(frame[cols["numerical"]].to_numpy(np.float32))
    c = torch.tensor(
        np.stack([frame[k].astype(str).map(cards[k]).to_numpy() for k in cols["categorical"]], 1)
    )
    sizes = [len(cards[k]) for k in cols["categorical"]]
    hidden, latent = src["model"]["params"]["hidden_dims"], src["model"]["params"]["latent_dim"]
    beta = src["train"]["loss"]["params"]["beta"]

    def hand() -> None:
        torch.manual_seed(0)
        train_vae(PlainVAE(x.shape[1], sizes, hidden, latent), x, c, epochs, 256, 0.002, beta)

    fixed: list[float] = []
    side = alchemi_side(cfg, fixed)
    return measure("train VAE diamonds", hand, side, len(x), epochs, rounds, fixed)


def sae(tmp: Path, quick: bool) -> dict:
    rows, epochs, rounds = (20_000, 1, 3) if quick else (100_000, 2, 5)
    x = synthetic(rows, 32, seed=1)
    path = tmp / "emb.npy"
    np.save(path, x)
    cfg = base_config(
        tmp, str(path), epochs,
        model={"class": "SAE", "params": {"hidden_dim": 128}},
        data={"columns": {"embeddings": ["emb"]}},
    )  # fmt: skip
    cfg["train"]["loader_class"] = "EmbeddingDataLoader"
    cfg["train"]["loss"] = {"class": "SAELoss", "params": {"sparsity_weight": 0.01}}
    xt = torch.from_numpy(x)

    def hand() -> None:
        torch.manual_seed(0)
        train_sae(PlainSAE(32, 128), xt, epochs, 256, 1e-3, 0.01)

    fixed: list[float] = []
    return measure(
        f"train SAE {rows // 1000}k x 32",
        hand,
        alchemi_side(cfg, fixed),
        rows,
        epochs,
        rounds,
        fixed,
    )


def run(quick: bool = False) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="alchemi-bench-train-") as tmp:
        tmp = Path(tmp)
        first, data = vae_200k(tmp, quick)
        rows = [first]
        try:
            if quick:
                raise ImportError("full mode only")
            from lightning_ref import lightning_row

            rows.append(lightning_row(*data, quick=quick))
        except ImportError as exc:
            rows.append(skipped("train VAE: Lightning", f"{exc} (pip install -e '.[bench]')"))
        rows += [vae_diamonds(tmp, quick), sae(tmp, quick)]
    return rows
