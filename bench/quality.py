"""Do the example models learn? The shipped diamonds chain, scored against simple baselines.

Runs in a scratch folder (data/diamonds linked to the repo's, prepared if missing): train configs/vae/diamonds.yaml, extract with
configs/extract/diamonds.yaml, train configs/sae/diamonds.yaml, predict with
configs/predict/diamonds_vae.yaml and diamonds_sae.yaml. MLflow is off (mlflow=null).

What is compared, on the test split (numerical columns are standardised, as prepare-data
writes them, so MSE is in units of the train std; the mean predictor scores about 1.0):
  VAE   reconstruction from the encoder mean (latent_dim 8).
  PCA   linear baseline with the same latent size: fitted on the train split's numerical
        columns next to one-hot categoricals (0/1, unscaled); a test row is projected and
        reconstructed, numerical columns read back, each categorical is the argmax of its
        one-hot block.
  mean  train mean for numerical columns, the majority class for categoricals.
  SAE   on the VAE's test embeddings: FVE, mean L0 (active latents per row), dead fraction
        (latents that never fire on the split).

  OMP_NUM_THREADS=1 .venv/bin/python bench/quality.py [--vae-epochs N] [--sae-epochs N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import ROOT, diamonds_dir, table
from sklearn.decomposition import PCA

from alchemi_core import api
from alchemi_core.config.loading import load_config
from alchemi_core.config.schema import DataConfig
from alchemi_core.data.tabular import TabularDataLoader, load_cardinalities

CONFIGS = ROOT / "configs"


def read(path: str, data: DataConfig) -> dict[str, np.ndarray]:
    loader = TabularDataLoader(path, data, batch_size=1, shuffle=False)
    return {k: v.numpy() for k, v in loader.tensors.items()}


def one_hot(codes: np.ndarray, cards: list[int]) -> np.ndarray:
    return np.concatenate(
        [np.eye(k, dtype=np.float32)[codes[:, i]] for i, k in enumerate(cards)], 1
    )


def pca_baseline(train: dict, test: dict, cards: list[int], k: int) -> tuple[float, np.ndarray]:
    """Numerical MSE and per-categorical accuracy of a k-component PCA reconstruction."""
    n_num = train["numerical"].shape[1]
    fit = np.concatenate([train["numerical"], one_hot(train["categorical"], cards)], 1)
    pca = PCA(n_components=k, random_state=0).fit(fit)
    x = np.concatenate([test["numerical"], one_hot(test["categorical"], cards)], 1)
    rec = pca.inverse_transform(pca.transform(x))
    mse = float(((rec[:, :n_num] - test["numerical"]) ** 2).mean())
    acc, start = [], n_num
    for i, card in enumerate(cards):
        acc.append((rec[:, start : start + card].argmax(1) == test["categorical"][:, i]).mean())
        start += card
    return mse, np.array(acc)


def run_chain(args: argparse.Namespace) -> dict:
    """The by-hand chain from the README, with the shipped configs; returns what it made."""
    t0 = time.perf_counter()
    off = ["mlflow=null"]
    vae_set = off + ([f"train.epochs={args.vae_epochs}"] if args.vae_epochs else [])
    vae = api.train(CONFIGS / "vae/diamonds.yaml", vae_set)
    emb = api.extract(CONFIGS / "extract/diamonds.yaml")
    sae_set = off + ([f"train.epochs={args.sae_epochs}"] if args.sae_epochs else [])
    sae = api.train(CONFIGS / "sae/diamonds.yaml", sae_set)
    vae_pred = api.predict(CONFIGS / "predict/diamonds_vae.yaml")
    sae_pred = api.predict(CONFIGS / "predict/diamonds_sae.yaml")
    return {
        "vae": vae,
        "emb": emb,
        "sae": sae,
        "vae_pred": vae_pred,
        "sae_pred": sae_pred,
        "seconds": time.perf_counter() - t0,
    }


def report(made: dict) -> None:
    cfg = load_config(CONFIGS / "vae/diamonds.yaml")
    data, k = cfg.data, cfg.model.params["latent_dim"]
    train, test = read(cfg.train.data_path, data), read("data/diamonds/test.csv", data)
    cats = data.columns.categorical
    mappings = [len(v) for v in load_cardinalities(data.cardinalities_path, cats).values()]
    pred = np.load(made["vae_pred"]["path"])
    n_num = len(data.columns.numerical)
    vae_mse = float(((pred[:, :n_num] - test["numerical"]) ** 2).mean())
    vae_acc = np.array([(pred[:, n_num + 2 * i] == test["categorical"][:, i]).mean()
                        for i in range(len(cats))])  # fmt: skip
    pca_mse, pca_acc = pca_baseline(train, test, mappings, k)
    mean_mse = float(((train["numerical"].mean(0) - test["numerical"]) ** 2).mean())
    majority = np.array([(test["categorical"][:, i] == np.bincount(train["categorical"][:, i]).argmax()).mean()
                         for i in range(len(cats))])  # fmt: skip
    names = ["numerical MSE (std units)", *(f"accuracy {c}" for c in cats)]
    vals = zip(names, [vae_mse, *vae_acc], [pca_mse, *pca_acc], [mean_mse, *majority], strict=True)
    rows = [
        {"metric": n, "VAE": f"{v:.4f}", f"PCA k={k}": f"{p:.4f}", "mean / majority": f"{b:.4f}"}
        for n, v, p, b in vals
    ]
    epochs = made["vae"].epochs_run
    print(table(rows, f"\nVAE (latent_dim {k}, {epochs} epochs), diamonds test split"))
    m = made["sae_pred"]["metrics"]
    hidden = load_config(CONFIGS / "sae/diamonds.yaml").model.params["hidden_dim"]
    sae_rows = [
        {"metric": "FVE", "SAE": f"{m['fve']:.4f}", "target": ">= 0.9"},
        {"metric": "mean L0", "SAE": f"{m['l0']:.3f}", "target": f"of {hidden} latents"},
        {"metric": "dead fraction", "SAE": f"{m['dead_fraction']:.4f}", "target": "<= 0.05"},
    ]
    title = f"\nSAE (hidden_dim {hidden}, {made['sae'].epochs_run} epochs), VAE test embeddings"
    print(table(sae_rows, title))
    print(f"\nchain time {made['seconds']:.0f}s")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vae-epochs", type=int, default=None, help="override train.epochs")
    p.add_argument("--sae-epochs", type=int, default=None, help="override train.epochs")
    p.add_argument("--workdir", default=None, help="scratch folder (default: a temp folder)")
    args = p.parse_args(argv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="alchemi-quality-"))
    work.mkdir(parents=True, exist_ok=True)
    os.chdir(work)  # the shipped configs use ./data and ./experiments
    (work / "data").mkdir(exist_ok=True)
    if not (work / "data" / "diamonds").exists():
        (work / "data" / "diamonds").symlink_to(diamonds_dir())
    print(f"working in {work}", file=sys.stderr)
    report(run_chain(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
