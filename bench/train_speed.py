"""alchemi's training loop vs a hand-written loop over the same tensors (same process).

Both train the example VAE on diamonds for the same epochs and batches; alchemi also writes a
checkpoint and a metrics line per epoch. Prints throughput ratio alchemi / hand-written.
"""

from __future__ import annotations

import sys
import tempfile

import torch
from common import ROOT, best_of, diamonds_dir, table

from alchemi_core import assembly
from alchemi_core.config.loading import load_config
from alchemi_core.training import run

EPOCHS = 3


def config(out: str):
    d = diamonds_dir()
    return load_config(
        ROOT / "configs/vae/diamonds.yaml",
        [
            f"train.epochs={EPOCHS}",
            "val=null",
            "checkpoint.metric=train_loss",
            "mlflow=null",
            f"train.data_path={d / 'train.csv'}",
            f"data.cardinalities_path={d / 'cardinalities.json'}",
            f"experiment.output_dir={out}",
            "global.device=cpu",
        ],
    )


def hand_loop(b) -> None:
    model, loss_fn, opt, data = b.model, b.loss, b.optimizer, b.train_loader.tensors
    n, bs = next(iter(data.values())).shape[0], b.train_loader.batch_size
    g = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(EPOCHS):
        perm = torch.randperm(n, generator=g)
        for i in range(0, n, bs):
            idx = perm[i : i + bs]
            batch = {k: v[idx] for k, v in data.items()}
            loss = loss_fn(model(batch), batch)["loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


def main() -> int:
    tmp = tempfile.mkdtemp()
    hand_b = assembly.build(config(tmp), "bench")
    hand = best_of(lambda: hand_loop(hand_b))
    counter = iter(range(100))

    def alchemi() -> None:
        cfg = config(tmp)
        cfg.experiment.name = f"speed{next(counter)}"
        run.execute(assembly.build(cfg, "bench"))

    ours = best_of(alchemi)
    builds = []

    def loop_only() -> None:
        run.execute(builds.pop())

    loop_times = []
    for _ in range(3):
        cfg = config(tmp)
        cfg.experiment.name = f"loop{next(counter)}"
        builds.append(assembly.build(cfg, "bench"))
        loop_times.append(best_of(loop_only, 1))
    loop = min(loop_times)
    rows = len(hand_b.train_loader.tensors["numerical"]) * EPOCHS
    print(
        table(
            [
                {"loop": "hand-written", "seconds": f"{hand:.2f}", "rows/s": f"{rows / hand:,.0f}"},
                {
                    "loop": "alchemi run (built data/model, checkpoints)",
                    "seconds": f"{loop:.2f}",
                    "rows/s": f"{rows / loop:,.0f}",
                },
                {
                    "loop": "alchemi incl. reading CSV, building",
                    "seconds": f"{ours:.2f}",
                    "rows/s": f"{rows / ours:,.0f}",
                },
            ],
            f"VAE training on diamonds, {EPOCHS} epochs, 1 thread",
        )
    )
    print(f"ratio alchemi/hand-written throughput (loop): {hand / loop:.3f}")
    print(f"ratio alchemi/hand-written throughput (end to end): {hand / ours:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
