"""MAE harness: projector, visible-only encoder, the CLI on synthetic and real spectra, resume
after a kill, config errors, bf16 autocast on CPU."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from alchemi_core.cli import main
from alchemi_core.mae.model import MAE, SpectralBasisProjector, gather, split_mask

ROOT = Path(__file__).resolve().parents[1]
DEBUG = ROOT / "configs/mae/synthetic_debug.yaml"
SHIPPED = ROOT / "configs/train.mae.yaml"


def smooth_spectra(n: int, length: int = 60, rank: int = 3, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.linspace(0, 1, length)
    curves = torch.stack([torch.sin((k + 1) * math.pi * x + k) for k in range(rank)])
    return torch.randn(n, rank, generator=g) @ curves + 0.5


def test_projector_full_basis_is_lossless_and_pca_beats_cosine_on_low_rank_data():
    spectra = smooth_spectra(200)
    full = SpectralBasisProjector(60, 4, 15, "cosine").fit(spectra)
    assert torch.allclose(full.inverse(full(spectra)), spectra, atol=1e-4)
    pca = SpectralBasisProjector(60, 4, 3, "pca").fit(spectra)
    cos = SpectralBasisProjector(60, 4, 3, "cosine").fit(spectra)
    tokens = pca(spectra)
    assert tokens.shape == (200, 4, 3)
    assert (pca.inverse(tokens) - spectra).abs().max() < 1e-4
    assert (cos.inverse(cos(spectra)) - spectra).abs().max() > 1e-2
    # tokens are standardised per coefficient on the training spectra
    assert torch.allclose(tokens.std(dim=0), torch.ones(4, 3), atol=1e-3)


def test_projector_refuses_a_basis_wider_than_a_window():
    with pytest.raises(ValueError, match="narrowest window"):
        SpectralBasisProjector(20, 8, 4)


def test_mask_split_is_disjoint_and_covers_every_token():
    vis, masked = split_mask(5, 16, 0.75, torch.Generator().manual_seed(0))
    assert vis.shape == (5, 4) and masked.shape == (5, 12)
    for v, m in zip(vis, masked, strict=True):
        assert sorted(torch.cat([v, m]).tolist()) == list(range(16))


def test_encoder_sees_only_the_visible_tokens():
    torch.manual_seed(0)
    model = MAE(8, 16, 32, 1, 4, "attention", 16, 1).eval()
    tokens = torch.randn(3, 16, 8)
    vis, masked = split_mask(3, 16, 0.75, torch.Generator().manual_seed(1))
    changed = tokens.clone()
    changed.scatter_(1, masked[..., None].expand(-1, -1, 8), 100.0)
    with torch.no_grad():
        codes, codes2 = model.encoder(tokens, vis), model.encoder(changed, vis)
        pred = model.decoder(codes, vis, masked)
        pred2 = model.decoder(codes2, vis, masked)
        loss = model(tokens, vis, masked)
    assert codes.shape == (3, 4, 32)
    assert torch.equal(codes, codes2) and torch.equal(pred, pred2)
    assert pred.shape == (3, 12, 8)
    assert torch.isclose(loss, ((pred - gather(tokens, masked)) ** 2).mean())
    # but a visible token does reach the prediction
    changed_vis = tokens.clone()
    changed_vis.scatter_(1, vis[..., None].expand(-1, -1, 8), 3.0)
    with torch.no_grad():
        pred3 = model.decoder(model.encoder(changed_vis, vis), vis, masked)
    assert (pred3 - pred).abs().max() > 1e-3


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["pretrain-mae", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def table_rows(out: str) -> list[list[str]]:
    lines = [ln for ln in out.splitlines() if "|" in ln]
    return [[c.strip() for c in ln.split("|")] for ln in lines[1:]]


def test_synthetic_debug_config_runs_and_prints_the_table(tmp_path, capsys):
    code, out, err = run_cli(
        capsys, "--config", str(DEBUG), "--set", f"experiment.output_dir={tmp_path}"
    )
    assert code == 0, err
    assert "seed 0 (global.seed), device cpu, dtype float32" in err and str(DEBUG) in err
    rows = table_rows(out)
    assert [r[0] for r in rows] == ["0.5000", "0.7500", "0.9000"]
    for r in rows:
        assert float(r[1]) > 0 and float(r[2].replace(",", "")) > 0
        assert float(r[3].replace(",", "")) > 0 and float(r[4]) > 0
    run_dir = tmp_path / "mae_synthetic_debug"
    assert {p.name for p in run_dir.iterdir()} >= {
        "config.yaml",
        "run.json",
        "metrics.jsonl",
        "checkpoints",
    }
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "finished" and len(info["rows"]) == 3
    assert info["runtime"]["seed"] == 0
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in lines] == list(range(2, 19, 2))
    # the same config again: nothing to do; --seed makes it a different run
    code, out, err = run_cli(
        capsys, "--config", str(DEBUG), "--set", f"experiment.output_dir={tmp_path}"
    )
    assert code == 0 and "MAE already_finished" in out
    code, _, err = run_cli(
        capsys, "--config", str(DEBUG), "--seed", "3", "--set", f"experiment.output_dir={tmp_path}"
    )
    assert code == 2 and "different config" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_shipped_config_runs_on_earthlib_spectra(tmp_path, capsys):
    code, out, err = run_cli(
        capsys,
        "--config", str(SHIPPED),
        "--json",
        *("--set", f"experiment.output_dir={tmp_path}"),
        *("--set", "train.steps=3", "--set", "train.log_every=3", "--set", "train.eval_batches=1"),
        *("--set", "train.bench_repeats=1", "--set", "train.bench_steps=1"),
        *("--set", "train.embed_dim=16", "--set", "train.decoder_dim=8"),
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert result["data"]["spectra"] == 7261 and result["data"]["bands"] == 180
    assert result["data"]["basis_rmse"] < 0.05
    assert [r["mask_ratio"] for r in result["rows"]] == [0.5, 0.75, 0.9]
    assert all(math.isfinite(r["masked_loss"]) for r in result["rows"])


def test_a_spectra_table_trains_and_a_bad_column_is_one_line(tmp_path, capsys):
    spectra = smooth_spectra(64, 40).numpy()
    df = pd.DataFrame(spectra, columns=[f"{w:.0f}" for w in np.linspace(400, 2400, 40)])
    df.insert(0, "id", range(64))
    df.to_csv(tmp_path / "lab.csv", index=False)
    common = ["--config", str(DEBUG), "--set", f"experiment.output_dir={tmp_path}", "--json"]
    sets = ["train.token_dim=4", "train.num_tokens=8", "train.bench_repeats=0",
            "train.encoder_kind=isab_pma", "global.deterministic=true"]  # fmt: skip
    tiny = [a for s in sets for a in ("--set", s)]
    code, out, err = run_cli(capsys, *common, *tiny, "--set", f"train.data={tmp_path / 'lab.csv'}")
    torch.use_deterministic_algorithms(False)  # the run set it for this process
    assert code == 0, err
    result = json.loads(out)
    assert result["data"]["bands"] == 40
    assert result["rows"][0]["tokens_per_s"] is None  # timing skipped when bench_repeats is 0
    df.rename(columns={"400": "blue"}).to_csv(tmp_path / "bad.csv", index=False)
    code, _, err = run_cli(
        capsys, *common, *tiny, "--set", f"train.data={tmp_path / 'bad.csv'}", "--overwrite"
    )
    assert code == 2
    assert (
        err.strip()
        == f"error: {tmp_path / 'bad.csv'}: blue: column is neither `id` nor a wavelength in nm"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("train.mask_ratio=0.5", "train.mask_ratio: unknown key (did you mean 'mask_ratios'?)"),
        ("train.mask_ratios=[0.5, 1.5]", "train.mask_ratios: 1.5 is not a masking ratio in (0, 1)"),
        ("train.heads=5", "train.heads: 5 does not divide embed_dim 32"),
        (
            "train.data=/nowhere/spectra.csv",
            "/nowhere/spectra.csv: train.data: spectra file not found",
        ),
        ("global.amp_dtype=fp16", "global.amp_dtype: fp16 autocast is not supported on CPU"),
    ],
)
def test_config_errors_are_one_line_exit_2(tmp_path, capsys, change, message):
    code, out, err = run_cli(
        capsys,
        "--config",
        str(DEBUG),
        "--set",
        f"experiment.output_dir={tmp_path}",
        "--set",
        change,
    )
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert message in err
    assert not (tmp_path / "mae_synthetic_debug").exists()  # nothing half-written


def test_bf16_autocast_runs_on_cpu(tmp_path, capsys):
    code, out, err = run_cli(
        capsys,
        *("--config", str(DEBUG), "--json", "--set", f"experiment.output_dir={tmp_path}"),
        *("--set", "global.amp_dtype=bf16"),
    )
    assert code == 0, err
    assert "amp bfloat16" in err
    rows = json.loads(out)["rows"]
    assert all(math.isfinite(r["masked_loss"]) and r["speed_ratio"] > 0 for r in rows)


def test_mlflow_gets_params_metrics_and_the_checkpoint(tmp_path, mlflow_uri):
    from mlflow.tracking import MlflowClient

    from alchemi_core import api
    from alchemi_core.config.loading import read_yaml

    canary = "mae-canary-8c1f"
    cfg = read_yaml(DEBUG)
    cfg["experiment"]["output_dir"] = str(tmp_path)
    cfg["train"]["bench_repeats"] = 0
    cfg["mlflow"] = {
        "tracking_uri": mlflow_uri,
        "experiment_name": "mae",
        "credentials": {"username": "alice", "password": canary},
    }
    result = api.pretrain_mae(cfg, source=str(DEBUG))
    run_id = json.loads((Path(result.run_dir) / "run.json").read_text())["mlflow_run_id"]
    client = MlflowClient(tracking_uri=mlflow_uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["train.embed_dim"] == "32" and run.data.tags["alchemi.model"] == "MAE"
    assert canary not in json.dumps(run.data.params)
    history = client.get_metric_history(run_id, "train_loss")
    assert [m.step for m in history] == list(range(2, 19, 2))
    assert [m.step for m in client.get_metric_history(run_id, "val_masked_loss")] == [6, 12, 18]
    names = {a.path for a in client.list_artifacts(run_id, "checkpoints")}
    assert names == {"checkpoints/last_model.pt"}
    assert canary not in (Path(result.run_dir) / "config.yaml").read_text()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_runs_on_cuda_with_bf16_autocast(tmp_path, capsys):
    code, out, err = run_cli(
        capsys,
        *("--config", str(DEBUG), "--json", "--set", f"experiment.output_dir={tmp_path}"),
        *("--set", "global.device=cuda", "--set", "global.amp_dtype=bf16"),
    )
    assert code == 0, err
    assert "device cuda" in err
    assert all(math.isfinite(r["masked_loss"]) for r in json.loads(out)["rows"])


def test_loss_sum_keeps_the_first_non_finite_step():
    from alchemi_core.errors import TrainingDiverged
    from alchemi_core.mae.harness import LossSum

    acc = LossSum(torch.device("cpu"), start=0.5)
    for step, x in enumerate([1.0, 2.25, 4.0], start=1):
        acc.add(torch.tensor(x), step)
    assert acc.total(0.5) == 7.75
    acc.reset()
    for step, x in [(4, 1.0), (5, float("inf")), (6, float("nan")), (7, 2.0)]:
        acc.add(torch.tensor(x), step)
    with pytest.raises(TrainingDiverged, match=r"loss is inf at step 5 of mask ratio 0\.75"):
        acc.total(0.75)


def test_a_diverging_run_stops_with_one_line_and_no_nan_on_disk(tmp_path, capsys):
    """The NaN is found at the end of its logging interval, named by its own step; no line or
    checkpoint after it is written."""
    sets = [f"experiment.output_dir={tmp_path}", "train.learning_rate=1000", "train.steps=40"]
    sets += ["train.bench_repeats=0", "train.log_every=3", "train.checkpoint_every=3"]
    code, _, err = run_cli(capsys, "--config", str(DEBUG), *(f"--set={s}" for s in sets))
    last = err.strip().splitlines()[-1]
    assert code == 2 and last.startswith(f"error: {DEBUG}: loss is nan at step "), err
    assert last.endswith("of mask ratio 0.5")
    bad_step = int(last.split(" at step ")[1].split()[0])
    run_dir = tmp_path / "mae_synthetic_debug"
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "diverged" and info["error"] in last
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert lines and all(m["step"] < bad_step and math.isfinite(m["train_loss"]) for m in lines)
    ckpt = torch.load(run_dir / "checkpoints/last_model.pt", weights_only=False)
    assert ckpt["epoch"] < bad_step
