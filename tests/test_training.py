"""Training behaviour: optimizers, validation, early stopping, checkpoints, outputs, determinism."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import pytest
import torch
import yaml

from alchemi_core import api
from alchemi_core.errors import ConfigError
from alchemi_core.run import checkpoints


def metrics_of(run_dir):
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(
    "opt",
    [
        {"optimizer": "SGD", "learning_rate": 0.01, "momentum": 0.9, "nesterov": True},
        {"optimizer": "AdamW", "learning_rate": 0.001, "weight_decay": 0.01, "betas": [0.8, 0.9]},
        {"optimizer": "RMSprop", "learning_rate": 0.001},
    ],
)
def test_any_torch_optimizer_with_kwargs(write_config, opt):
    result = api.train(write_config(train__optimizer_config=opt, train__epochs=1))
    ckpt = torch.load(result.last_checkpoint, weights_only=True)
    group = ckpt["optimizer_state"]["param_groups"][0]
    assert group["lr"] == opt["learning_rate"]
    for k, v in opt.items():
        if k not in ("optimizer", "learning_rate"):
            assert group[k] == (tuple(v) if isinstance(v, list) else v)


@pytest.mark.parametrize(
    ("opt", "key", "needle"),
    [
        (
            {"optimizer": "Adamm", "learning_rate": 0.1},
            "train.optimizer_config.optimizer",
            "'Adam'",
        ),
        (
            {"optimizer": "Adam", "learning_rate": 0.1, "momentum": 0.9},
            "train.optimizer_config.momentum",
            "unknown parameter",
        ),
        (
            {"optimizer": "Adam", "learning_rate": 0.1, "betas": "fast"},
            "train.optimizer_config",
            "",
        ),
    ],
)
def test_bad_optimizer_is_a_config_error(write_config, tmp_path, opt, key, needle):
    with pytest.raises(ConfigError) as info:
        api.train(write_config(train__optimizer_config=opt))
    assert info.value.key == key and needle in info.value.message
    assert not (tmp_path / "out").exists()  # nothing written for bad input


def test_validation_frequency(write_config, tmp_path):
    api.train(write_config(train__epochs=4, val__frequency=2, checkpoint__metric="train_loss"))
    rows = metrics_of(tmp_path / "out" / "debug")
    assert ["val_loss" in r for r in rows] == [False, True, False, True]


def test_early_stopping_stops_after_patience_validations(write_config, tmp_path):
    # lr=0 means no improvement after the first validation: stop after 1 + patience epochs.
    cfg = write_config(
        train__epochs=20,
        train__optimizer_config={"optimizer": "SGD", "learning_rate": 1e-12},
        val__early_stopping={
            "patience": 2,
            "metric": "val_loss",
            "direction": "min",
            "min_delta": 1.0,
        },
    )
    result = api.train(cfg)
    assert result.epochs_run == 3
    assert len(metrics_of(tmp_path / "out" / "debug")) == 3


@pytest.mark.parametrize(
    ("strategy", "files"),
    [
        ("best", {"best_model.pt"}),
        ("last", {"last_model.pt"}),
        ("all", {"best_model.pt", "last_model.pt", "epoch_1.pt", "epoch_2.pt", "epoch_3.pt"}),
    ],
)
def test_save_strategies(write_config, tmp_path, strategy, files):
    result = api.train(write_config(checkpoint__save_strategy=strategy))
    ckpt_dir = tmp_path / "out" / "debug" / "checkpoints"
    assert {p.name for p in ckpt_dir.iterdir()} == files
    if strategy == "all":
        for n in (1, 2, 3):
            assert checkpoints.load(ckpt_dir / f"epoch_{n}.pt")["epoch"] == n
    if "best_model.pt" in files:
        best = checkpoints.load(ckpt_dir / "best_model.pt")
        vals = [m["val_loss"] for m in metrics_of(tmp_path / "out" / "debug")]
        assert best["metrics"]["val_loss"] == min(vals) == result.best_metric


def test_checkpoint_contents(write_config, tmp_path):
    api.train(write_config())
    ckpt = checkpoints.load(tmp_path / "out/debug/checkpoints/last_model.pt")
    assert {"model_state", "optimizer_state", "epoch", "metrics", "config"} <= set(ckpt)
    assert ckpt["epoch"] == 3 and ckpt["config"]["experiment"]["name"] == "debug"
    assert ckpt["model_params"]["input_dim"] == 4 + 2 + 2 + 2  # 4 numerical + 3 embedded cats


def test_mode_max_keeps_the_highest(write_config, tmp_path):
    api.train(
        write_config(
            checkpoint__metric="val_categorical_accuracy",
            checkpoint__mode="max",
            checkpoint__save_strategy="best",
            train__epochs=4,
        )
    )
    accs = [m["val_categorical_accuracy"] for m in metrics_of(tmp_path / "out/debug")]
    best = checkpoints.load(tmp_path / "out/debug/checkpoints/best_model.pt")
    assert best["metrics"]["val_categorical_accuracy"] == max(accs)


def test_metric_names_are_checked_against_the_loss(write_config, tmp_path):
    with pytest.raises(ConfigError) as info:
        api.train(write_config(checkpoint__metric="val_sparsity_loss"))
    assert info.value.key == "checkpoint.metric" and "val_kl_loss" in info.value.message


def test_resolved_config_is_saved_redacted(write_config, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "")
    db = tmp_path / "m.db"
    cfg = write_config(
        mlflow={
            "tracking_uri": f"sqlite:///{db}",
            "experiment_name": "e",
            "credentials": {"username": "u", "password": "hunter2-canary"},
        }
    )
    api.train(cfg, seed=11)
    saved = (tmp_path / "out/debug/config.yaml").read_text()
    assert "hunter2-canary" not in saved
    data = yaml.safe_load(saved)
    assert data["global"]["seed"] == 11 and data["global"]["device"] == "cpu"
    assert data["model"]["params"]["input_dim"] == 10


def test_same_seed_gives_bit_identical_weights(write_config, tmp_path):
    a = api.train(write_config(name="a.yaml", experiment__name="a", train__epochs=3))
    b = api.train(write_config(name="b.yaml", experiment__name="b", train__epochs=3))
    c = api.train(write_config(name="c.yaml", experiment__name="c", train__epochs=3), seed=99)
    sa, sb, sc = (
        torch.load(r.last_checkpoint, weights_only=True)["model_state"] for r in (a, b, c)
    )
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_bf16_autocast_trains_on_cpu(write_config):
    from alchemi_core import assembly
    from alchemi_core.config.loading import load_config
    from alchemi_core.run import runner as run
    from alchemi_core.tabular import recipe as tabular

    path = write_config(global_={"amp_dtype": "bf16", "device": "cpu"})
    b = assembly.build(load_config(path), str(path))
    seen = []
    for m in b.model.modules():
        if isinstance(m, torch.nn.Linear):
            m.register_forward_hook(lambda mod, args, out: seen.append(out.dtype))
    before = {k: v.clone() for k, v in b.model.state_dict().items()}
    result = run.execute(tabular, b)
    assert result.status == "finished" and result.epochs_run == 3
    assert seen and set(seen) == {torch.bfloat16}  # every Linear ran under bf16 autocast
    assert all(p.dtype == torch.float32 for p in b.model.parameters())  # weights stay fp32
    after = b.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert math.isfinite(result.metrics["train_loss"]) and math.isfinite(result.metrics["val_loss"])


def one_sgd_step(write_config, clip: float | None) -> float:
    """The size of the first SGD step (lr 1) of the debug VAE: the gradient norm it applied."""
    from alchemi_core import assembly
    from alchemi_core.config.loading import load_config

    path = write_config(
        train__optimizer_config={"optimizer": "SGD", "learning_rate": 1.0},
        train__grad_clip_norm=clip,
        train__epochs=1,
        train__loader_params__num_batches_per_epoch=1,
    )
    b = assembly.build(load_config(path), str(path))
    trainer = b.trainer
    trainer.val_loader = None
    flat = lambda: torch.cat([p.detach().flatten().clone() for p in b.model.parameters()])  # noqa: E731
    before = flat()
    trainer.epoch(1)
    return float((flat() - before).norm())


def test_grad_clip_norm_clips_the_step(write_config):
    free = one_sgd_step(write_config, None)
    clipped = one_sgd_step(write_config, 0.05)
    assert free > 1.0  # the unclipped gradient is far larger than the clip
    assert 0.05 * 0.999 < clipped <= 0.05 * 1.001


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_device_trains(write_config):
    result = api.train(write_config(global_={"device": "cuda", "amp_dtype": "fp16"}))
    assert result.status == "finished"


def test_scheduler_steps_per_epoch(write_config, tmp_path):
    api.train(write_config(train__scheduler={"name": "StepLR", "step_size": 1, "gamma": 0.5}))
    lrs = [m["lr"] for m in metrics_of(tmp_path / "out/debug")]
    assert lrs == pytest.approx([0.001, 0.0005, 0.00025])


def test_plain_log_lines_when_not_a_terminal(write_config):
    proc = subprocess.run(
        [sys.executable, "-m", "alchemi_core.cli", "train", "--config", str(write_config())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert any("seed 7 (global.seed), device cpu, dtype float32" in ln for ln in lines)
    assert sum("epoch " in ln and "train_loss=" in ln for ln in lines) == 3
    assert "\r" not in proc.stderr  # no progress bar redraws in a log
    assert json.loads(proc.stdout)["status"] == "finished"


def test_progress_bar_on_a_terminal(write_config):
    import fcntl
    import os
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "alchemi_core.cli", "train", "--config", str(write_config())],
        stdin=slave,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=120) == 0
    out = b"".join(chunks).decode(errors="replace")
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out)  # the bar is rich's: strip its escapes
    assert re.search(r"epoch 1/3 .*\d+/\d+ batches", plain), plain[-2000:]
    assert "\x1b[" in out  # drawn with cursor control, then erased (transient)


def test_changed_data_is_a_different_run(write_config, tmp_path, penguins_dir):
    import shutil

    from alchemi_core.errors import RunStateError

    data = tmp_path / "data"
    shutil.copytree(penguins_dir, data)
    cfg = write_config(train__data_path=str(data / "train.csv"))
    first = api.train(cfg)
    assert api.train(cfg).status == "already_finished"
    with open(data / "train.csv", "a") as fh:  # one more row
        fh.write(open(data / "train.csv").read().splitlines()[1] + "\n")
    with pytest.raises(RunStateError, match="different config or data"):
        api.train(cfg)
    again = api.train(cfg, overwrite=True)
    assert again.status == "finished" and again.config_hash != first.config_hash


def test_builds_in_threads_get_the_weights_their_seed_gives(write_config, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from alchemi_core.assembly import build
    from alchemi_core.config.loading import load_config

    cfgs = [
        load_config(write_config(name=f"t{i}.yaml", experiment__name=f"t{i}")) for i in range(6)
    ]
    alone = build(cfgs[0], "x").model.state_dict()
    with ThreadPoolExecutor(6) as pool:
        models = list(pool.map(lambda c: build(c, "x").model.state_dict(), cfgs))
    for state in models:
        assert all(torch.equal(state[k], alone[k]) for k in alone)


def test_altered_checkpoint_of_a_finished_run_is_trained_again(write_config, tmp_path):
    from alchemi_core.errors import RunStateError

    cfg = write_config(checkpoint__save_strategy="best")
    first = api.train(cfg)
    best = tmp_path / "out/debug/checkpoints/best_model.pt"
    best.write_bytes(best.read_bytes() + b"x")
    with pytest.raises(RunStateError, match="best_model.pt changed since the run finished"):
        api.train(cfg)
    again = api.train(cfg, overwrite=True)
    assert again.status == "finished" and again.epochs_run == 3
    new = checkpoints.load(best)["model_state"]
    old = torch.load(first.best_checkpoint, weights_only=True)["model_state"]
    assert all(torch.equal(new[k], old[k]) for k in new)  # same seed: the same weights again


def test_imported_module_source_is_part_of_the_run(write_config, tmp_path, monkeypatch):
    import sys

    (tmp_path / "extra_mod.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = write_config(imports=["extra_mod"])
    first = api.train(cfg)
    (tmp_path / "extra_mod.py").write_text("X = 2\n")
    sys.modules.pop("extra_mod", None)
    again = api.train(cfg, overwrite=True)
    assert again.status == "finished" and again.config_hash != first.config_hash


def test_evaluate_gives_the_last_validation_metrics(write_config):
    from alchemi_core import assembly
    from alchemi_core.config.loading import load_config
    from alchemi_core.run import runner as run
    from alchemi_core.tabular import recipe as tabular

    path = write_config()
    b = assembly.build(load_config(path), str(path))
    result = run.execute(tabular, b)
    again = b.trainer.evaluate()  # the trained model, the val loader and loss
    logged = {k.removeprefix("val_"): v for k, v in result.metrics.items() if k.startswith("val_")}
    assert again == pytest.approx(logged, rel=1e-6) and "loss" in again
