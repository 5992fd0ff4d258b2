"""The loss contract.

A loss is called as `loss(outputs, batch)` and returns a dict of scalar tensors with a
differentiable "loss" entry; every other entry is a component logged as `<split>_<name>`.
A loss that needs whole-epoch statistics (e.g. dead latents) implements `reset()` and
`epoch_metrics()` (and `sync()` for data-parallel runs); the trainer calls them around each
epoch. A loss whose weights follow a schedule (e.g. KL warm-up) implements `start_epoch(epoch)`;
the trainer calls it on the train loss before each training epoch (from 1), so validation scores
every epoch the same way.
"""

from __future__ import annotations

import torch
from torch import nn


class Loss(nn.Module):
    metric_names: tuple[str, ...] = ()
    # The model outputs forward reads; checked at load against a model's `output_keys`
    # (builders.check_loss_fits) when both are declared.
    reads: tuple[str, ...] = ()

    def reset(self) -> None:
        pass

    def start_epoch(self, epoch: int) -> None:
        pass

    def epoch_metrics(self) -> dict[str, float]:
        return {}

    def sync(self, reduce_sum) -> None:
        """Data parallel: combine this rank's epoch statistics with every rank's
        (`reduce_sum(tensor)` returns the sum over ranks) before `epoch_metrics`."""


def detach_components(terms: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v if k == "loss" else v.detach() for k, v in terms.items()}
