"""The pictures of a finished alignment run, beside its metrics.jsonl (ALCHEMI_PLOTS=0 skips them).

- curves.png: the losses and the main validation metrics per epoch
- retrieval_ranks.png: per sensor, the rank of each validation spectrum's true lab spectrum
  among the validation lab spectra (training sensors solid, held-out sensors dashed)
- spectra.png: the cycle head's reconstruction against the true lab spectrum, for the first
  few validation samples read by the first training sensor (no cycle head: no picture)
Drawn from the run's best checkpoint (last if none). A plotting problem never fails a finished
run: it is a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alchemi_core.tabular.figures import enabled

log = logging.getLogger("alchemi")
NAMES = ("retrieval_ranks.png", "spectra.png")  # curves.png: in figures.NAMES
CURVES = ("loss", "nce", "cycle", "depth", "top1", "heldout_top1", "sam_deg", "heldout_sam_deg")
SAMPLES = 4


def draw(trainer, folder) -> list[Path]:
    """Every picture of the run in `folder` (a RunFolder); returns the files written."""
    if not enabled():
        return []
    from alchemi_core import plots

    which = "best" if folder.best_checkpoint() else "last"
    written: list[Path] = []
    for name, fn in (
        ("curves", lambda: [plots.plot_curves(folder.path / "metrics.jsonl", only=CURVES)]),
        ("alignment", lambda: _draw(trainer, folder.path, which)),
    ):
        try:
            written += [p for p in fn() if p is not None]
        except Exception as exc:  # noqa: BLE001
            log.warning("could not draw the %s pictures: %s", name, exc)
    return written


def _draw(trainer, run_dir: Path, which: str) -> list[Path]:
    import torch

    from alchemi_core.alignment import evaluation as ev
    from alchemi_core.alignment import retrieval
    from alchemi_core.alignment.load import cpu_runtime, load_run

    _, model, ckpt = load_run(run_dir, which)
    rt = cpu_runtime()
    d = trainer.data
    lab = d.lab_values[torch.from_numpy(d.val_idx)]
    lab_feats = ev.lab_feats(model, d.lab_tokens_wl, d.lab_token_fwhm, rt.device)
    lab_emb, _ = ev.embed(model, "lab", lab_feats, lab, rt)
    ranks, held, cycle = {}, set(), None
    for s in d.sensors:
        feats = ev.band_feats(model, s.sensor, rt.device)
        reading = trainer.val_readings[s.name]
        emb, heads = ev.embed(model, "sensor", feats, reading, rt, sensor=s.sensor)
        ranks[s.name] = retrieval.ranks(retrieval.cosine_scores(emb, lab_emb)).numpy()
        if s.held_out:
            held.add(s.name)
        elif cycle is None and "cycle" in heads:
            cycle = (s.name, heads["cycle"].numpy())
    split = f"{len(lab)} validation spectra, epoch {int(ckpt['epoch'])} ({which})"
    true = trainer.cycle_target(torch.from_numpy(d.val_idx)).numpy()
    return pictures(run_dir, ranks, held, split, model.cycle_grid.numpy(), true, cycle)


def pictures(
    out_dir: Path,
    ranks: dict,
    held: set,
    split: str,
    wavelengths,
    true,
    cycle,
    prefix: str = "",
    write=None,
) -> list[Path]:
    """retrieval_ranks.png ({sensor: ranks [N]}, `held` the held-out sensors) and, with a
    cycle head, spectra.png (`cycle` = (sensor, reconstructions [N, L]) of `true` [N, L] on
    `wavelengths` nm), in `out_dir`, their names prefixed with `prefix`; `split` ends the
    titles (which spectra, which checkpoint). `write(target, draw)` places each picture
    (OutputPlan.write: all or none); by default each is drawn straight to its target."""
    from alchemi_core import plots

    write = write or (lambda target, draw: draw(target))
    title = f"Sensor -> lab retrieval ranks\n{split}"
    out = [out_dir / f"{prefix}{NAMES[0]}"]
    write(out[0], lambda p: plots.plot_retrieval_ranks(ranks, p, title=title, held_out=held))
    if cycle is not None:
        name, rec = cycle
        title = f"Cycle head: lab spectrum reconstructed from {name} readings, {split}"
        out.append(out_dir / f"{prefix}{NAMES[1]}")
        write(
            out[1],
            lambda p: plots.plot_spectra(wavelengths, true, rec, p, n=SAMPLES, title=title),
        )
    return out
