import json

from alchemi_core.plots import plot_curves


def test_curves_png_from_metrics(tmp_path):
    path = tmp_path / "metrics.jsonl"
    rows = [{"epoch": e, "lr": 0.1, "train_loss": 1.0 / e, "val_loss": 1.2 / e,
             "train_kl_loss": 0.1 * e} for e in (1, 2, 3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"torn')
    out = plot_curves(path)
    assert out == tmp_path / "curves.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000


def test_no_metrics_no_plot(tmp_path):
    (tmp_path / "metrics.jsonl").write_text("")
    assert plot_curves(tmp_path / "metrics.jsonl") is None
    assert not (tmp_path / "curves.png").exists()
