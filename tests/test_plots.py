import json

import numpy as np
import pytest

from alchemi_core.plots import (
    plot_curves,
    plot_embedding_map,
    plot_firing_histogram,
    plot_retrieval_ranks,
    plot_spectra,
    plot_sweep,
)
from alchemi_core.plots.maps import pca_2d


def test_curves_png_from_metrics(tmp_path):
    path = tmp_path / "metrics.jsonl"
    rows = [
        {
            "epoch": e,
            "lr": 0.1,
            "train_loss": 1.0 / e,
            "val_loss": 1.2 / e,
            "train_kl_loss": 0.1 * e,
        }
        for e in (1, 2, 3)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"torn')
    out = plot_curves(path)
    assert out == tmp_path / "curves.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000


def test_no_metrics_no_plot(tmp_path):
    (tmp_path / "metrics.jsonl").write_text("")
    assert plot_curves(tmp_path / "metrics.jsonl") is None
    assert not (tmp_path / "curves.png").exists()


PNG = b"\x89PNG\r\n\x1a\n"


def test_pca_finds_the_dominant_direction():
    rng = np.random.default_rng(0)
    t = rng.normal(size=500)
    x = np.stack([3 * t, -3 * t, 0.01 * rng.normal(size=500)], axis=1)
    coords, ratio = pca_2d(x)
    assert ratio[0] > 0.99
    assert abs(np.corrcoef(coords[:, 0], t)[0, 1]) > 0.999


def test_embedding_map_groups_rare_categories(tmp_path):
    rng = np.random.default_rng(0)
    labels = [f"c{i % 12}" for i in range(600)]
    out = plot_embedding_map(rng.normal(size=(600, 4)), labels, tmp_path / "map.png", "cut")
    assert out.read_bytes()[:8] == PNG and out.stat().st_size > 10_000


def test_firing_histogram_counts_dead_latents(tmp_path):
    freq = np.array([0.0, 0.0, 0.1, 0.5, 0.9])
    out = plot_firing_histogram(freq, tmp_path / "firing.png")
    assert out.read_bytes()[:8] == PNG


def test_sweep_plot_one_panel_per_parameter_and_none_without_results(tmp_path):
    trials = [
        {"params": {"sae.lr": lr, "sae.act": act}, "value": v}
        for lr, act, v in [(1e-4, "relu", 1.0), (1e-2, "topk", 0.5), (1e-3, "relu", None)]
    ]
    out = plot_sweep(trials, "sae.val_loss", tmp_path / "sweep.png", trials[1])
    assert out.read_bytes()[:8] == PNG
    assert plot_sweep(trials[2:], "sae.val_loss", tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()


def test_alignment_pictures(tmp_path):
    rng = np.random.default_rng(0)
    ranks = rng.integers(1, 200, size=300)
    assert plot_retrieval_ranks(ranks, tmp_path / "ranks.png").read_bytes()[:8] == PNG
    wl = np.linspace(400, 2500, 120)
    true = np.sin(wl / 300)[None] + rng.normal(scale=0.05, size=(5, 120))
    out = plot_spectra(wl, true, true + 0.05, tmp_path / "spectra.png", n=4)
    assert out.read_bytes()[:8] == PNG


def test_run_pictures_of_the_vae_and_sae(write_config, tmp_path, monkeypatch):
    """A trained VAE gets an embedding map; its embeddings' SAE gets a firing histogram."""
    from alchemi_core import api

    monkeypatch.setenv("ALCHEMI_PLOTS", "1")
    result = api.train(write_config())
    run = tmp_path / "out" / "debug"
    assert {"curves.png", "embedding_map.png"} <= {p.name for p in run.iterdir()}
    assert result.status == "finished"


def axes():
    from alchemi_core.plots.common import figure

    return figure(4, 3).subplots()


@pytest.mark.parametrize(
    ("name", "value"),
    [("dead_fraction", 0.0), ("dead_window_fraction", 0.0), ("dense_fraction", 1.0)],
)
def test_a_fraction_that_stays_put_is_drawn_on_0_to_1(name, value):
    from alchemi_core.plots.curves import y_axis, y_label

    ax = axes()
    ax.plot([1, 2, 3], [value] * 3)
    y_axis(ax, name, value, value)
    assert ax.get_ylim() == (-0.02, 1.02)
    assert y_label(name) == f"{name} (fraction)"


def test_a_constant_learning_rate_on_a_log_axis_with_a_decade_around_it():
    from alchemi_core.plots.curves import y_axis

    ax = axes()
    ax.plot([1, 2, 3], [0.002] * 3)
    y_axis(ax, "lr", 0.002, 0.002)
    assert ax.get_yscale() == "log"
    lo, hi = ax.get_ylim()
    assert np.isclose(lo, 0.002 / 3) and np.isclose(hi, 0.006)


def test_sweep_axis_log_for_learning_rates_ticks_at_tried_values():
    from alchemi_core.plots.sweep import x_axis

    ax = axes()
    tried = [0.001, 0.003, 0.001, 0.003]
    ax.scatter(tried, [1, 2, 3, 4])
    x_axis(ax, "sae.train.optimizer_config.learning_rate", tried)
    assert ax.get_xscale() == "log"
    assert list(ax.get_xticks()) == [0.001, 0.003]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.001", "0.003"]
    assert list(ax.xaxis.get_minorticklocs()) == []
    ax = axes()
    x_axis(ax, "sae.model.params.hidden_dim", [16, 32])
    assert ax.get_xscale() == "linear" and list(ax.get_xticks()) == [16, 32]


def test_long_titles_wrap_to_the_figure_width():
    from alchemi_core.plots.common import wrapped

    title = "Cycle head: lab spectrum reconstructed from sentinel2a_msi readings, validation split"
    lines = wrapped(title, 5.0).splitlines()
    assert len(lines) > 1 and all(len(line) <= 45 for line in lines)
    assert " ".join(lines) == title


def _title_extents(monkeypatch, draw):
    """Each saved figure's title boxes (suptitle and axes titles) and the figure's box, in
    pixels, as matplotlib's renderer lays them out."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from alchemi_core.plots import spectra

    figs = []
    real = spectra.save
    monkeypatch.setattr(spectra, "save", lambda fig, out: figs.append(fig) or real(fig, out))
    draw()
    out = []
    for fig in figs:
        renderer = FigureCanvasAgg(fig).get_renderer()
        fig.draw(renderer)
        texts = [fig._suptitle] + [ax.title for ax in fig.axes]
        out.append(([t.get_window_extent(renderer) for t in texts if t and t.get_text()], fig.bbox))
    return out


def _inside(box, fig_box) -> bool:
    return box.x0 >= fig_box.x0 and box.x1 <= fig_box.x1 and box.y1 <= fig_box.y1


def _align_eval_titles(tmp_path, monkeypatch, n):
    from alchemi_core.alignment import figures

    wl = np.linspace(400, 2500, 50)
    true = np.random.default_rng(0).random((n, 50))
    split = "7261 spectra of lab_labelled.parquet, noise 0.03, epoch 60 (best)"
    return _title_extents(monkeypatch, lambda: figures.pictures(
        tmp_path, {"sentinel3a_olci": np.arange(1, n + 1)}, {"sentinel3a_olci"}, split, wl, true,
        ("sentinel3a_olci", true + 0.01), prefix="sentinel3a_olci_"))  # fmt: skip


@pytest.mark.parametrize("n", [1, 4])
def test_align_eval_titles_lie_inside_the_picture(tmp_path, monkeypatch, n):
    """align eval's titles (the longest: a sensor, a table, the noise and the checkpoint) are
    drawn within the figure, for one sample (the narrowest figure) and for four."""
    drawn = _align_eval_titles(tmp_path, monkeypatch, n)
    assert len(drawn) == 2  # retrieval_ranks.png, spectra.png
    for boxes, fig_box in drawn:
        assert boxes and all(_inside(b, fig_box) for b in boxes), (boxes, fig_box)


def test_the_title_check_sees_an_unwrapped_title(tmp_path, monkeypatch):
    from alchemi_core.plots import spectra

    monkeypatch.setattr(spectra, "wrapped", lambda title, width: title)
    _, (spectra_boxes, box) = _align_eval_titles(tmp_path, monkeypatch, 1)
    assert not all(_inside(b, box) for b in spectra_boxes)
