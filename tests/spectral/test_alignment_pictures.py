"""An alignment run's pictures: in the run folder, valid images, logged to MLflow; none with
ALCHEMI_PLOTS=0; a plotting problem leaves the run finished."""

from __future__ import annotations

import logging

import numpy as np
from matplotlib.image import imread
from mlflow.tracking import MlflowClient

from alchemi_core import align_api
from tests.spectral.helpers import tiny_config

PICTURES = {"curves.png", "retrieval_ranks.png", "spectra.png"}


def test_pictures_in_the_run_folder_and_mlflow(tmp_path, mlflow_uri, monkeypatch):
    monkeypatch.setenv("ALCHEMI_PLOTS", "1")
    mlflow = {"tracking_uri": mlflow_uri, "experiment_name": "align"}
    cfg = tiny_config(tmp_path / "d", tmp_path / "runs", mlflow=mlflow)
    result = align_api.train(cfg)
    run = tmp_path / "runs/align_debug"
    assert PICTURES <= {p.name for p in run.glob("*.png")}
    for name in PICTURES:
        image = imread(run / name)
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 300
        assert np.ptp(image[..., :3]) > 0.5  # something is drawn on the white canvas
    arts = {
        a.path
        for a in MlflowClient(tracking_uri=mlflow_uri).list_artifacts(result["mlflow_run_id"])
    }
    assert PICTURES <= arts


def test_no_pictures_when_turned_off_and_no_failure_when_plotting_breaks(
    tmp_path, monkeypatch, caplog
):
    monkeypatch.setenv("ALCHEMI_PLOTS", "0")
    cfg = tiny_config(tmp_path / "d", tmp_path / "off", **{"trainer.epochs": 1})
    assert align_api.train(cfg)["status"] == "finished"
    assert not list((tmp_path / "off/align_debug").glob("*.png"))

    from alchemi_core import plots

    def broken(*args, **kwargs):
        raise ValueError("no canvas")

    monkeypatch.setenv("ALCHEMI_PLOTS", "1")
    monkeypatch.setattr(plots, "plot_retrieval_ranks", broken)
    cfg = tiny_config(tmp_path / "d2", tmp_path / "broken", **{"trainer.epochs": 1})
    with caplog.at_level(logging.WARNING, logger="alchemi"):
        assert align_api.train(cfg)["status"] == "finished"
    assert "could not draw the alignment pictures: no canvas" in caplog.text
    assert [p.name for p in (tmp_path / "broken/align_debug").glob("*.png")] == ["curves.png"]
