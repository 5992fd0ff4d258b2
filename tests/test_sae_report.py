"""`alchemi sae report` on planted features: a categorical value that drives one direction of the
embedding is the top enriched value of the latent that captures that direction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from alchemi_core.cli import main
from tests.conftest import ROOT

N, D = 600, 6


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A table, its embeddings (kind 'c' adds 3 u, kind 'a' adds 3 v) and an SAE run on them."""
    from alchemi_core import api
    from alchemi_core.config.schema import TrainingConfig

    tmp = tmp_path_factory.mktemp("planted")
    rng = np.random.default_rng(0)
    kind = rng.choice(list("abcd"), size=N)
    u, v = np.eye(D)[0], np.eye(D)[3]
    emb = (
        0.3 * rng.normal(size=(N, D)) + 3 * np.outer(kind == "c", u) + 3 * np.outer(kind == "a", v)
    )
    table = pd.DataFrame(
        {
            "kind": kind,
            "size": rng.normal(size=N) + 2.0 * (kind == "c"),
            "noise": rng.normal(size=N),
            "flag": rng.choice(["x", "y"], size=N),
        }
    )
    table.to_csv(tmp / "table.csv", index=False)
    np.save(tmp / "emb.npy", emb.astype("float32"))
    cfg = yaml.safe_load((ROOT / "configs/sae/penguins_debug.yaml").read_text())
    cfg["experiment"] = {"name": "planted", "output_dir": str(tmp / "runs")}
    cfg["model"]["params"] = {"hidden_dim": 8, "activation": "topk", "k": 1, "aux_k": 4}
    cfg["train"].update(data_path=str(tmp / "emb.npy"), epochs=15)
    cfg["train"]["optimizer_config"]["learning_rate"] = 0.01
    cfg["val"]["data_path"] = str(tmp / "emb.npy")
    api.train(api.as_config(cfg, TrainingConfig)[0])
    return tmp, u


def test_the_planted_value_is_the_top_enriched_value_of_its_latent(planted, capsys):
    tmp, u = planted
    run = tmp / "runs" / "planted"
    code = main(["sae", "report", "--run", str(run), "--embeddings", str(tmp / "emb.npy"),
                 "--table", str(tmp / "table.csv"), "--out", str(tmp / "report")])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    ckpt = torch.load(run / "checkpoints" / "last_model.pt", weights_only=True)
    w = ckpt["model_state"]["W_dec"]
    latent = int((w @ torch.tensor(u, dtype=w.dtype)).argmax())  # the one that writes u
    rows = pd.read_csv(tmp / "report" / "latents.csv")
    assert {"latent", "frequency", "mean_activation", "top_column", "top_value", "lift"} <= set(
        rows.columns
    )
    mine = rows.set_index("latent").loc[latent]
    assert (mine["top_column"], mine["top_value"]) == ("kind", "c")
    assert mine["lift"] > 2.5  # kind c is ~1/4 of the rows and nearly all of this latent's
    assert mine["top_numeric"] == "size" and mine["mean_shift"] > 1.0
    assert list(rows["frequency"]) == sorted(rows["frequency"], reverse=True)
    page = (tmp / "report" / "report.html").read_text()
    assert "http://" not in page and "https://" not in page  # reads offline
    assert page.count("<svg") == int((rows["fires"] > 0).sum())  # a picture per live latent
    assert f"latent {latent}: fires on" in page


def test_a_length_mismatch_is_one_line_and_exit_2(planted, capsys, tmp_path):
    tmp, _ = planted
    pd.read_csv(tmp / "table.csv").head(N - 3).to_csv(tmp_path / "short.csv", index=False)
    code = main(["sae", "report", "--run", str(tmp / "runs" / "planted"),
                 "--embeddings", str(tmp / "emb.npy"), "--table", str(tmp_path / "short.csv"),
                 "--out", str(tmp_path / "out")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"error: {tmp_path / 'short.csv'}: ") and "597 rows" in err
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_a_vae_run_is_refused(vae_run, tmp_path, capsys):
    np.save(tmp_path / "e.npy", np.zeros((3, 4), dtype="float32"))
    pd.DataFrame({"a": [1, 2, 3]}).to_csv(tmp_path / "t.csv", index=False)
    code = main(["sae", "report", "--run", str(vae_run), "--embeddings", str(tmp_path / "e.npy"),
                 "--table", str(tmp_path / "t.csv"), "--out", str(tmp_path / "o")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "not an SAE" in err and err.count("\n") == 1


def test_the_report_never_overwrites_its_table(planted, capsys, tmp_path):
    tmp, _ = planted
    table = tmp_path / "latents.csv"
    table.write_bytes((tmp / "table.csv").read_bytes())
    code = main(["sae", "report", "--run", str(tmp / "runs" / "planted"),
                 "--embeddings", str(tmp / "emb.npy"), "--table", str(table),
                 "--out", str(tmp_path)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "would overwrite the input" in err
    assert table.read_bytes() == (tmp / "table.csv").read_bytes()
