"""A process that ran a flow can still fork (DataLoader workers): see tasks/forking.py."""

from __future__ import annotations

import multiprocessing as mp

from flows.train import train_flow


def test_fork_child_exits_cleanly_after_a_flow(write_config):
    result = train_flow(str(write_config()))
    assert result["train"]["status"] == "finished"
    child = mp.get_context("fork").Process(target=print)
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0  # 1 without the fix: Prefect's exit hooks fail in the child
