"""`alchemi align train|eval` end to end on tiny synthetic spectra (the shipped debug config)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from alchemi_core.alignment import api as align_api
from alchemi_core.alignment.config import load_alignment_config
from alchemi_core.cli import main
from tests.spectral.helpers import ROOT, tiny_config, write_dataset


def trainer_of(cfg):
    """The AlignmentTrainer assembly builds for the config file `cfg`."""
    from alchemi_core.alignment.trainer import AlignmentTrainer

    return AlignmentTrainer.from_yaml(cfg)


def test_shipped_configs_validate():
    for name in ("alignment.yaml", "alignment_debug.yaml"):
        cfg = load_alignment_config(ROOT / "configs/phase2" / name)
        assert cfg.data.sensor_paths and cfg.data.eval_sensor_paths
        assert cfg.trainer.save_strategy == "best_and_last"  # not one file per epoch


def test_train_then_eval_on_a_sensor_never_seen(tmp_path, capsys):
    cfg = tiny_config(tmp_path / "d", tmp_path / "runs")
    assert main(["align", "train", "--config", str(cfg), "--seed", "3"]) == 0
    result = json.loads(capsys.readouterr().out)
    run = tmp_path / "runs" / "align_debug"
    assert result["status"] == "finished"
    assert {p.name for p in run.iterdir()} >= {
        "config.yaml",
        "run.json",
        "metrics.jsonl",
        "checkpoints",
    }
    assert {p.name for p in (run / "checkpoints").iterdir()} == {"best_model.pt", "last_model.pt"}
    info = json.loads((run / "run.json").read_text())
    assert info["runtime"]["seed"] == 3 and info["runtime"]["seed_source"] == "--seed"
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    last = rows[-1]
    for key in (
        "val_top1/msi",
        "val_recall_at_5/oli",
        "val_mean_rank/unseen",
        "val_rmse/unseen",
        "val_sam_deg/msi",
        "val_banddepth_mean_abs_err/oli",
        "val_heldout_top1",
    ):
        assert key in last
    # a sensor absent from training (different band count, centres and widths)
    other = tmp_path / "other.csv"
    other.write_text("band,centre_nm,fwhm_nm\nx1,450,10\nx2,700,25\nx3,1000,80\n")
    argv = [
        "align",
        "eval",
        "--run",
        str(run),
        "--lab",
        str(tmp_path / "d/lab.csv"),
        "--sensor",
        str(other),
        "--noise",
        "0.03",
        "--checkpoint",
        "last",
    ]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out.strip())
    assert out["n"] == 96 and 0 <= out["top1"] <= 1 and 1 <= out["mean_rank"] <= 96
    assert out["recall_at_5"] >= out["top1"] and out["rmse"] > 0 and 0 < out["sam_deg"] < 90
    # the same call gives the same numbers (seeded noise)
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out.strip()) == out
    # a second train of the same config is a no-op
    assert main(["align", "train", "--config", str(cfg), "--seed", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "already_finished"


@pytest.mark.parametrize(
    "change, key",
    [
        ({"data.noise": -1}, "data.noise"),
        ({"tokenizer.use_widht": False}, "tokenizer.use_widht"),
        ({"data.sensor_paths": []}, "data.sensor_paths"),
        ({"model.heads": 3}, "model.heads"),
        ({"cycle.prior_tokens": True}, "cycle.prior_tokens"),  # needs the gaussian prior
    ],
)
def test_config_errors_are_one_line_exit_2(tmp_path, capsys, change, key):
    cfg = tiny_config(tmp_path / "d", tmp_path / "runs", **change)
    assert main(["align", "train", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {cfg}: {key}") and "\n" not in err
    assert not (tmp_path / "runs").exists()


def test_data_errors_are_one_line_exit_2(tmp_path, capsys):
    cfg = tiny_config(tmp_path / "d", tmp_path / "runs")
    (tmp_path / "d/msi.csv").write_text("band,centre_nm\nb1,500\n")
    assert main(["align", "train", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err == f"error: {tmp_path / 'd/msi.csv'}: fwhm_nm: missing column; a sensor needs "
        "wavelength_nm + response columns, or band, centre_nm, fwhm_nm"
    )
    assert not (tmp_path / "runs").exists()
    lab, sensor = str(tmp_path / "d/lab.csv"), str(tmp_path / "d/oli.csv")
    assert main(["align", "eval", "--run", str(tmp_path), "--lab", lab, "--sensor", sensor]) == 2
    assert "no config.yaml" in capsys.readouterr().err
    assert main(["align", "eval", "--run", str(tmp_path), "--lab", "x", "--sensor", sensor]) == 2
    assert capsys.readouterr().err.strip() == "error: x: lab library file not found"


def test_bf16_autocast_on_cpu(tmp_path):
    cfg = tiny_config(
        tmp_path / "d", tmp_path / "runs", **{"global.amp_dtype": "bf16", "trainer.epochs": 1}
    )
    trainer = trainer_of(cfg)
    assert trainer.rt.amp_dtype is torch.bfloat16
    with trainer.rt.autocast():
        emb = trainer.model.embed("lab", trainer.lab_feats, trainer.data.lab_values[:4])
    assert emb.dtype is torch.bfloat16
    metrics = trainer.epoch(1)
    assert torch.isfinite(torch.tensor(metrics["train_loss"])) and "val_top1" in metrics


def test_measured_pairs_replace_simulation(tmp_path):
    files = write_dataset(tmp_path / "d")
    import pandas as pd

    lab = pd.read_csv(files["lab"])
    pairs = pd.DataFrame({"id": lab["id"], **{f"b{i}": 0.3 for i in range(1, 7)}})
    pairs.to_csv(tmp_path / "pairs.csv", index=False)
    cfg = tiny_config(
        tmp_path / "d", tmp_path / "runs", **{"data.pairs_path": str(tmp_path / "pairs.csv")}
    )
    trainer = trainer_of(cfg)
    msi = trainer.val_readings["msi"]
    assert torch.all(msi == 0.3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_trains_on_cuda_with_bf16_autocast(tmp_path):
    cfg = tiny_config(
        tmp_path / "d",
        tmp_path / "runs",
        **{"global.device": "cuda", "global.amp_dtype": "bf16", "trainer.epochs": 1},
    )
    result = align_api.train(cfg)
    assert result["status"] == "finished" and "val_top1" in result["metrics"]


def test_extract_embeds_a_spectra_file_with_the_sensor_tower(tmp_path, capsys):
    cfg = tiny_config(tmp_path / "d", tmp_path / "runs", **{"trainer.epochs": 1})
    align_api.train(cfg)
    run = tmp_path / "runs" / "align_debug"
    # readings of a sensor the model never saw, in a table with one column per band
    sensor = tmp_path / "other.csv"
    sensor.write_text("band,centre_nm,fwhm_nm\nx1,450,10\nx2,700,25\nx3,1000,80\n")
    readings = tmp_path / "readings.csv"
    readings.write_text("id,x1,x2,x3\na,0.1,0.2,0.3\nb,0.2,0.25,0.5\nc,0.05,,0.4\n")
    ext = tmp_path / "extract.yaml"
    ext.write_text(
        yaml.safe_dump(
            {
                "run": str(run),
                "tower": "sensor",
                "input_path": str(readings),
                "sensor_path": str(sensor),
                "output": str(tmp_path / "emb.npy"),
            }
        )
    )
    assert main(["extract", "--config", str(ext)]) == 0
    out = json.loads(capsys.readouterr().out)
    emb = np.load(tmp_path / "emb.npy")
    assert out["sensor"]["shape"] == [3, 32] and emb.shape == (3, 32)
    assert np.isfinite(emb).all() and not np.allclose(emb[0], emb[1])
    side = json.loads((tmp_path / "emb.json").read_text())
    assert side["tower"] == "sensor" and side["input_sha256"]
    # the same rows through the model directly give the same embeddings
    _, model, _ = align_api.load_run(run, "best")
    from alchemi_core.alignment import evaluation as ev
    from alchemi_core.alignment.spectral import load_sensor

    s = load_sensor(sensor)
    values = torch.tensor([[0.1, 0.2, 0.3], [0.2, 0.25, 0.5], [0.05, float("nan"), 0.4]])
    with torch.no_grad():
        direct = model.embed("sensor", ev.band_feats(model, s, "cpu"), values)
    np.testing.assert_allclose(emb, direct.numpy(), atol=1e-5)
    # a readings table missing a band: one line, exit 2
    readings.write_text("id,x1,x2\na,0.1,0.2\n")
    assert main(["extract", "--config", str(ext)]) == 2
    assert "x3" in capsys.readouterr().err
