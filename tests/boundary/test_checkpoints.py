"""Loading a checkpoint never imports code, and a checkpoint that lacks a key the loader needs
is one line naming the checkpoint file and the key, for every command that loads one."""

from __future__ import annotations

import shutil
import sys
import uuid

import pytest
import torch

from tests.boundary.harness import COMMANDS, assert_refused, before, run


def doctored(src, dst, edit):
    ckpt = torch.load(src, weights_only=True)
    edit(ckpt)
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, dst)
    return dst


@pytest.mark.parametrize("command", ["extract", "predict"])
def test_imports_saved_in_a_checkpoint_are_never_imported(command, ws, capsys):
    name = f"planted_{uuid.uuid4().hex[:8]}"
    marker = ws.root / "imported.txt"
    (ws.root / f"{name}.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")

    def plant(ckpt):
        ckpt["config"] = {**(ckpt.get("config") or {}), "imports": [name]}

    ckpt = doctored(ws.vae_run / "checkpoints/best_model.pt", ws.root / "ckpt/best.pt", plant)
    cmd = COMMANDS[command]
    argv = cmd.argv(ws, ws.out, {"checkpoint.path": str(ckpt)})
    rc, _, err = run(cmd, argv, capsys)
    assert rc == 0, err
    assert not marker.exists() and name not in sys.modules


TABULAR_KEYS = ["model_class", "model_params", "data_spec", "model_state"]


@pytest.mark.parametrize("key", TABULAR_KEYS)
@pytest.mark.parametrize("command", ["extract", "predict"])
def test_checkpoint_missing_a_key(command, key, ws, capsys):
    ckpt = doctored(
        ws.vae_run / "checkpoints/best_model.pt", ws.root / "ckpt/best.pt", lambda c: c.pop(key)
    )
    cmd = COMMANDS[command]
    argv = cmd.argv(ws, ws.out, {"checkpoint.path": str(ckpt)})
    state = before(ws)
    assert_refused(ws, state, *run(cmd, argv, capsys), ckpt, key)


@pytest.mark.parametrize("key", ["model_state", "lab_wavelengths"])
@pytest.mark.parametrize("command", ["align extract", "align eval"])
def test_alignment_checkpoint_missing_a_key(command, key, ws, capsys):
    run_copy = ws.root / "run"
    shutil.copytree(ws.align_run, run_copy)
    ckpt = run_copy / "checkpoints/best_model.pt"
    doctored(ckpt, ckpt, lambda c: c.pop(key))
    ws.align_run = run_copy
    cmd = COMMANDS[command]
    argv = cmd.argv(ws, ws.out, {})
    state = before(ws)
    assert_refused(ws, state, *run(cmd, argv, capsys), ckpt, key)
