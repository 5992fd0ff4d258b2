"""An alignment run's pictures: in the run folder, valid images, logged to MLflow; none with
ALCHEMI_PLOTS=0; a plotting problem leaves the run finished. `align eval --plots DIR`: the
evaluated sensor's pictures in DIR, all or none, stdout still one JSON object; a bad DIR is
exit 2."""

from __future__ import annotations

import errno
import json
import logging

import numpy as np
import pytest
from matplotlib.image import imread
from mlflow.tracking import MlflowClient

from alchemi_core.alignment import api as align_api
from alchemi_core.cli import main
from tests.spectral.helpers import tiny_config, write_dataset

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


def valid_png(path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 300
    assert np.ptp(image[..., :3]) > 0.5


def test_align_eval_plots(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ALCHEMI_PLOTS", "0")  # the run's own pictures: not needed here
    cfg = tiny_config(tmp_path / "d", tmp_path / "runs", **{"trainer.epochs": 1})
    run = align_api.train(cfg)["run_dir"]
    capsys.readouterr()
    args = ["--run", run, "--lab", str(tmp_path / "d/lab.csv")]
    args += ["--sensor", str(tmp_path / "d/unseen.csv")]
    out_dir = tmp_path / "plots/eval"
    assert main(["align", "eval", *args, "--plots", str(out_dir)]) == 0
    stdout = capsys.readouterr().out
    assert stdout.count("\n") == 1  # one JSON object, one line
    out = json.loads(stdout)
    names = ["unseen_retrieval_ranks.png", "unseen_spectra.png"]
    assert sorted(p.name for p in out_dir.iterdir()) == names
    assert out.pop("plots") == [str(out_dir / n) for n in names]
    for name in names:
        valid_png(out_dir / name)
    plain = align_api.evaluate(run, tmp_path / "d/lab.csv", tmp_path / "d/unseen.csv")
    assert "plots" not in plain and plain == out  # the option changes no number

    # The second picture fails (a full disk): all or nothing, no first picture, no temp file.
    from alchemi_core import plots

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(args[3]))

    monkeypatch.setattr(plots, "plot_spectra", full)
    before = {p: p.read_bytes() for p in out_dir.iterdir()}
    empty = tmp_path / "empty"
    empty.mkdir()
    for target in (tmp_path / "new/eval", empty, out_dir):
        capsys.readouterr()
        assert main(["align", "eval", *args, "--plots", str(target)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: command line: --plots: ") and err.count("\n") == 1
        assert "no space left on the device" in err, err
    assert not (tmp_path / "new").exists()  # the folders it made are gone with the pictures
    assert list(empty.iterdir()) == []  # no first picture, no temp file
    assert {p: p.read_bytes() for p in out_dir.iterdir()} == before  # earlier ones untouched


def test_align_eval_bad_plots_folder_is_one_line_exit_2(tmp_path_factory, capsys):
    files = write_dataset(tmp_path_factory.mktemp("data"))  # real inputs: read first
    tmp_path = tmp_path_factory.mktemp("run")
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep")
    lab, sensor = str(files["lab"]), str(files["msi"])
    args = ["align", "eval", "--run", str(tmp_path), "--lab", lab, "--sensor", sensor]
    for bad in (a_file, a_file / "sub"):
        assert main([*args, "--plots", str(bad)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: command line: --plots: ")
        assert f"{a_file} is a file, not a folder" in err
        assert err.count("\n") == 1
    assert a_file.read_text() == "keep" and sorted(tmp_path.iterdir()) == [a_file]
    with pytest.raises(SystemExit) as done:
        main(["align", "eval", "--help"])
    assert done.value.code == 0
    assert "--plots DIR" in capsys.readouterr().out
