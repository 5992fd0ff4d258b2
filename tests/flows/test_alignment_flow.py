"""The alignment flow: train then evaluate every sensor, cached on a re-run."""

from __future__ import annotations

from flows.alignment import alignment_flow, main
from tests.spectral.helpers import tiny_config


def test_alignment_flow_trains_evaluates_and_caches(tmp_path):
    cfg = str(tiny_config(tmp_path / "d", tmp_path / "runs"))
    first = alignment_flow(config=cfg, noise=0.02)
    assert first["states"]["train"] == "Completed"
    assert set(first["eval"]) == {"msi", "oli", "unseen"} and first["eval"]["unseen"]["held_out"]
    for metrics in first["eval"].values():
        assert 0 <= metrics["top1"] <= 1 and metrics["n"] == 96 and metrics["sam_deg"] > 0
    again = alignment_flow(config=cfg, noise=0.02)
    assert set(again["states"].values()) == {"Cached"}
    assert again["eval"] == first["eval"]
    # another noise level re-runs the evaluations only
    third = alignment_flow(config=cfg, noise=0.05)
    assert third["states"]["train"] == "Cached"
    assert {third["states"][f"eval.{s}"] for s in ("msi", "oli", "unseen")} == {"Completed"}


def test_bad_alignment_config_exits_2_before_running(tmp_path, capsys):
    cfg = tiny_config(tmp_path / "d", tmp_path / "runs", **{"trainer.epochs": 0})
    assert main(["--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {cfg}: trainer.epochs") and "\n" not in err
    assert not (tmp_path / "runs").exists()


def test_summary_artifact_embeds_the_pictures(tmp_path, monkeypatch):
    from tests.flows.test_presentation import artifacts

    monkeypatch.setenv("ALCHEMI_PLOTS", "1")
    cfg = str(tiny_config(tmp_path / "d", tmp_path / "runs", **{"trainer.epochs": 1}))
    out = alignment_flow(config=cfg)
    run_dir = tmp_path / "runs/align_debug"
    names = ("curves.png", "retrieval_ranks.png", "spectra.png")
    assert out["pictures"] == [str(run_dir / n) for n in names]
    summary = artifacts(out["flow_run_id"])["alignment-summary"].data
    assert summary.count("](data:image/png;base64,") == 3
    assert "retrieval_ranks" in summary and "spectra" in summary and "eval unseen" in summary


def test_runs_have_readable_names(tmp_path):
    from tests.flows.conftest import task_runs
    from tests.flows.test_presentation import flow_run

    cfg = tiny_config(tmp_path / "d", tmp_path / "runs", **{"trainer.epochs": 1})
    out = alignment_flow(config=str(cfg))
    assert flow_run(out["flow_run_id"]).name == f"alignment {cfg.stem}: align_debug"
    names = {r.name for r in task_runs(out["flow_run_id"])}
    assert names == {
        "align-train align_debug",
        "align-eval align_debug: msi (training)",
        "align-eval align_debug: oli (training)",
        "align-eval align_debug: unseen (held out)",
    }
