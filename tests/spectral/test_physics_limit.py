"""The physics limit next to the model: the known-response nearest neighbour, the re-ranking of
the model's candidates by the known responses, and the linear probe's transfer, on tiny cases
with known answers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from alchemi_core.alignment import evaluation as ev
from alchemi_core.alignment import probe, retrieval, spectral, transfer
from alchemi_core.alignment.load import cpu_runtime, load_run
from alchemi_core.cli import main
from alchemi_core.errors import DataError
from tests.spectral.helpers import tiny_config, write_gaussian_sensor


def test_known_response_nn_by_hand():
    wl = np.arange(400.0, 1001.0, 10.0)
    ramp = 0.1 + 0.4 * (wl - 400) / 600
    values = torch.tensor(np.stack([np.full_like(wl, 0.2), np.full_like(wl, 0.3), ramp]))
    sensor = spectral.make_sensor("s", ["a", "b"], [500.0, 900.0], [40.0, 40.0])
    m = transfer.sensor_matrix(sensor, wl).double()
    clean = spectral.simulate(values, m, 0.0)
    expected = torch.tensor([0.1 + 0.4 / 6, 0.1 + 0.4 * 5 / 6]).double()  # a line: its centres
    torch.testing.assert_close(clean[2], expected, atol=1e-3, rtol=0)
    # query 0 read 30% bright: nearer spectrum 1's reading (0.3) than its own (0.2)
    readings = torch.tensor([[0.26, 0.26], [0.3, 0.31], [0.17, 0.42]]).double()
    known = transfer.physics(readings, values, m)
    assert retrieval.ranks(known).tolist() == [2, 1, 1]
    assert retrieval.retrieval_metrics(known)["top1"] == pytest.approx(2 / 3)


def test_rerank_orders_the_candidates_by_the_physics():
    scores = torch.tensor(
        [
            [0.2, 0.9, 0.8, 0.1],  # candidates 1, 2: the true key 0 is not one of them
            [0.5, 0.9, 0.1, 0.8],  # candidates 1, 3; physics prefers 1 (the true key)
            [0.1, 0.2, 0.7, 0.9],  # candidates 3, 2; physics prefers 2 (the true key)
        ]
    )
    physics = torch.tensor(
        [[0.0, -5.0, -1.0, -9.0], [-9.0, 0.0, -9.0, -1.0], [-9.0, -9.0, 0.0, -1.0]]
    )
    out = retrieval.rerank(scores, physics, 2)
    assert retrieval.ranks(scores).tolist() == [3, 1, 2]
    # query 0's true key stays behind both candidates (now in physics order: 2, then 1)
    assert retrieval.ranks(out).tolist() == [3, 1, 1]
    assert out[0].argsort(descending=True).tolist() == [2, 1, 0, 3]
    # every key a candidate: the physics order itself
    full = retrieval.rerank(scores, physics, 99)
    assert retrieval.ranks(full).tolist() == retrieval.ranks(physics).tolist()


def test_probe_separates_and_counts_unseen_classes_wrong():
    gen = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(50, 3, generator=gen) + 4, torch.randn(50, 3, generator=gen) - 4])
    y = np.array(["a"] * 50 + ["b"] * 50)
    p = probe.fit(x, y)
    assert probe.accuracy(p, x, y) == 1.0
    assert probe.accuracy(p, x[:2], np.array(["c", "a"])) == 0.5  # "c" was never fitted
    one = probe.fit(x[:10], y[:10])  # a single class: always that one
    assert list(one.predict(x[-3:])) == ["a", "a", "a"]


def test_lab_table_text_columns_are_labels(tmp_path):
    path = tmp_path / "lab.csv"
    path.write_text("id,kind,400,500,code\nx,soil,0.1,0.2,1\ny,leaf,0.3,0.4,2\n")
    with pytest.raises(DataError, match="code"):
        spectral.load_lab(path)  # a numeric column is no label unless named
    lab = spectral.load_lab(path, labels="code")
    assert lab.values.shape == (2, 2) and sorted(lab.labels) == ["code", "kind"]
    assert list(lab.label("kind", path)) == ["soil", "leaf"]
    assert list(lab.subset(np.array([1])).label("code", path)) == ["2"]
    with pytest.raises(DataError, match="no label column 'LEVEL_2'"):
        lab.label("LEVEL_2", path)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A trained debug run on synthetic spectra, and its lab table with a class column."""
    tmp = tmp_path_factory.mktemp("limit")
    changes = {"rerank.candidates": 5, "cycle.prior": "gaussian"}
    cfg = tiny_config(tmp / "d", tmp / "runs", **changes)
    assert main(["align", "train", "--config", str(cfg)]) == 0
    df = pd.read_csv(tmp / "d/lab.csv")
    bright = np.where(df["560"] > df["560"].median(), "bright", "dark")  # read by any band
    df = pd.concat([df, pd.DataFrame({"bright": bright})], axis=1)
    df.to_csv(tmp / "d/lab.csv", index=False)
    return tmp / "runs/align_debug", tmp / "d"


def test_eval_prints_the_physics_limit_and_the_transfer(tiny_run, capsys):
    run, data = tiny_run
    capsys.readouterr()
    argv = ["align", "eval", "--run", str(run), "--lab", str(data / "lab.csv")]
    argv += ["--sensor", str(data / "unseen.csv"), "--noise", "0"]
    assert main([*argv, "--labels", "bright"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["physics_top1"] == 1.0  # 96 distinct spectra, 7 bands, no noise
    assert out["rerank_candidates"] == 5  # the run's rerank.candidates
    # the physics is perfect here: a true spectrum among the 5 candidates comes first
    assert out["rerank_top1"] == out["rerank_recall_at_5"]
    # no noise: each reading is its own spectrum's simulated reading, so the same embedding
    assert out["sensor_space_top1"] >= 0.95
    assert out["sensor_space_top1"] <= out["sensor_space_recall_at_5"] <= 1
    assert out["sensor_space_fused_top1"] >= 0.95  # and the same cycle head's spectrum
    assert out["sensor_space_fused_top1"] <= out["sensor_space_fused_recall_at_5"] <= 1
    assert out["labels"] == "bright" and out["n_classes"] == 2
    assert out["physics_transfer_accuracy"] >= 0.9  # the 560 nm band decides the class
    for key in ("transfer_accuracy", "embedding_transfer_accuracy", "majority_accuracy"):
        assert 0 <= out[key] <= 1
    # every spectrum a candidate: re-ranking is the known-response NN itself
    assert main([*argv, "--rerank", "96", "--noise", "0.03"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rerank_top1"] == out["physics_top1"] and "transfer_accuracy" not in out
    assert main([*argv, "--rerank", "0"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "rerank_top1" not in out and out["rerank_candidates"] is None


def test_probe_reads_the_embedding_then_the_prior(tiny_run):
    run, data = tiny_run
    _, model, _ = load_run(run)
    sensor = spectral.load_sensor(data / "unseen.csv")
    lab = spectral.load_lab(data / "lab.csv")
    m = transfer.sensor_matrix(sensor, lab.wavelengths)
    readings = spectral.simulate(torch.from_numpy(lab.values[:8]), m, 0.0)
    x = transfer.probe_features(model, sensor, readings, cpu_runtime())
    emb = transfer.embed_readings(model, sensor, readings, cpu_runtime())
    prior = model.prior(readings, **model.prior_args(sensor))
    assert x.shape == (8, emb.shape[1] + len(model.cycle_grid))
    torch.testing.assert_close(x[:, : emb.shape[1]], emb)
    torch.testing.assert_close(x[:, emb.shape[1] :], prior)


def test_sensor_space_fuses_the_cycle_heads_spectra(tiny_run):
    run, data = tiny_run
    _, model, _ = load_run(run)
    sensor = spectral.load_sensor(data / "unseen.csv")
    lab = spectral.load_lab(data / "lab.csv")
    values = torch.from_numpy(lab.values[:12])
    m = transfer.sensor_matrix(sensor, lab.wavelengths)
    readings = spectral.simulate(values, m, 0.05, torch.Generator().manual_seed(0)).float()
    rt = cpu_runtime()
    got = transfer.sensor_space_scores(model, sensor, readings, values, m, rt)
    prior = model.prior_args(sensor)
    with torch.no_grad():  # each side through the tower and its cycle head, by hand
        q, qh = model.encode_sensor(ev.band_feats(model, sensor, "cpu"), readings, **prior)
        clean = spectral.simulate(values, m, 0.0).float()
        k, kh = model.encode_sensor(ev.band_feats(model, sensor, "cpu"), clean, **prior)
    cos = retrieval.cosine_scores(q, k)
    torch.testing.assert_close(got["cosine"], cos, atol=1e-5, rtol=0)
    l2 = -torch.cdist(qh["cycle"].double(), kh["cycle"].double()).pow(2)
    z = [(s - s.mean(1, keepdim=True)) / s.std(1, keepdim=True) for s in (cos, l2)]
    torch.testing.assert_close(got["fused"], z[0] + z[1], atol=1e-4, rtol=0)
    assert not torch.allclose(got["fused"], z[0] * 2, atol=1e-2)  # the L2 counts


def test_eval_label_errors_are_one_line(tiny_run, capsys, tmp_path):
    run, data = tiny_run
    capsys.readouterr()
    argv = ["align", "eval", "--run", str(run), "--lab", str(data / "lab.csv")]
    argv += ["--sensor", str(write_gaussian_sensor(tmp_path / "s.csv", [500, 800], [30, 30]))]
    assert main([*argv, "--labels", "LEVEL_2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {data / 'lab.csv'}: --labels: no label column 'LEVEL_2'")
    assert err.count("\n") == 1
    assert main([*argv, "--rerank", "-1"]) == 2
    assert capsys.readouterr().err.startswith("error: --rerank: must be 0")


def test_validation_reports_the_limit(tiny_run):
    run, _ = tiny_run
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    last = rows[-1]
    for key in ("val_physics_top1/unseen", "val_rerank_top1/msi", "val_heldout_physics_top1"):
        assert 0 <= last[key] <= 1


def test_eval_probe_splits_the_lab_table_as_the_run_did(tiny_run, capsys, monkeypatch):
    """The probe's fit/test parts are the run's train/val split (data.split_seed), whatever
    the --seed of the simulated noise."""
    run, data = tiny_run
    seen = {}
    real = transfer.transfer_data

    def spy(lab, labels, split, *args):
        seen["split"] = split
        return real(lab, labels, split, *args)

    monkeypatch.setattr(transfer, "transfer_data", spy)
    argv = ["align", "eval", "--run", str(run), "--lab", str(data / "lab.csv")]
    argv += ["--sensor", str(data / "unseen.csv"), "--labels", "bright", "--seed", "7"]
    assert main(argv) == 0
    capsys.readouterr()
    cfg = load_run(run)[0]
    n = len(spectral.load_lab(data / "lab.csv", "bright").ids)
    want = spectral.split(n, cfg.data.val_fraction, cfg.data.split_seed)
    assert cfg.data.split_seed != 7
    for got, expected in zip(seen["split"], want, strict=True):
        np.testing.assert_array_equal(got, expected)
