"""What a checkpoint holds comes back exactly: the GradScaler state included."""

from __future__ import annotations

import torch

from alchemi_core import assembly
from alchemi_core.config.loading import load_config
from alchemi_core.run import checkpoints, runner
from alchemi_core.run.folder import RunFolder
from alchemi_core.run.payload import TrainState
from alchemi_core.run.session import Session
from alchemi_core.tabular import recipe as tabular


def scaled_step(model, opt, scaler, x) -> None:
    opt.zero_grad(set_to_none=True)
    scaler.scale(model(x).sum()).backward()
    scaler.step(opt)
    scaler.update()


def test_grad_scaler_state_round_trips_through_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=5)
    scaled_step(model, opt, scaler, torch.full((2, 3), float("inf")))  # overflow: scale halves
    scaled_step(model, opt, scaler, torch.ones(2, 3))  # a good step: growth tracker 1
    assert scaler.get_scale() == 512.0 and scaler.state_dict()["_growth_tracker"] == 1

    path = tmp_path / "c.pt"
    state = TrainState(model, opt, scaler=scaler)
    checkpoints.save_many(state.payload(1, {"epoch": 1}, {"model_class": "x"}), [path])
    ckpt = checkpoints.load(path)  # weights_only=True

    fresh = TrainState(
        torch.nn.Linear(3, 1),
        torch.optim.SGD(model.parameters(), lr=0.1),
        scaler=torch.amp.GradScaler("cpu"),
    )
    assert fresh.restore(ckpt) == 1
    assert fresh.scaler.state_dict() == scaler.state_dict()
    assert torch.equal(fresh.model.weight, model.weight)


def test_disabled_scaler_saves_none(tmp_path):
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    off = torch.amp.GradScaler("cpu", enabled=False)
    payload = TrainState(model, opt, scaler=off).payload(1, {}, {})
    assert payload["training"]["scaler"] is None


def test_a_run_checkpoints_the_trainers_scaler(write_config, tmp_path, monkeypatch):
    """The session saves the GradScaler the trainer steps with, and restores into it."""
    path = write_config(train__epochs=1)
    b = assembly.build(load_config(path), str(path))
    trainer = b.trainer
    trainer.scaler = torch.amp.GradScaler("cpu", init_scale=64.0)  # as fp16 on a GPU would
    folder = RunFolder(tmp_path / "run")
    folder.path.mkdir()
    session = Session(folder, assembly.build_tracker(None), tabular, b)
    assert tabular.train_state(b).scaler is trainer.scaler
    runner.train(tabular, b, session, 0, False, lambda line: None)
    session.flush()
    ckpt = checkpoints.load(folder.ckpt_dir / "last_model.pt")
    assert ckpt["training"]["scaler"]["scale"] == trainer.scaler.get_scale()
