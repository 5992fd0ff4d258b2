"""A linear probe: multinomial logistic regression on standardised features (torch L-BFGS),
for the transfer accuracy of embeddings and the baselines next to them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass
class Probe:
    classes: np.ndarray  # [C] the training labels' classes
    mean: torch.Tensor  # [D]
    std: torch.Tensor  # [D]
    weight: torch.Tensor  # [D, C]
    bias: torch.Tensor  # [C]

    def predict(self, x) -> np.ndarray:
        z = (_features(x) - self.mean) / self.std
        return self.classes[(z @ self.weight + self.bias).argmax(1).numpy()]


def _features(x) -> torch.Tensor:
    return torch.nan_to_num(torch.as_tensor(np.asarray(x), dtype=torch.float32))


def fit(x, y, l2: float = 1e-5, max_iter: int = 100) -> Probe:
    """Logistic regression of labels `y` [N] on features `x` [N, D] (NaN read as 0), with an
    L2 penalty `l2` on the weights (features standardised on `x`)."""
    classes, target = np.unique(np.asarray(y), return_inverse=True)
    x = _features(x)
    mean, std = x.mean(0), x.std(0).clamp_min(1e-8)
    z = (x - mean) / std
    w = torch.zeros(z.shape[1], len(classes), dtype=z.dtype, requires_grad=True)
    b = torch.zeros(len(classes), dtype=z.dtype, requires_grad=True)
    t = torch.from_numpy(target)
    opt = torch.optim.LBFGS([w, b], max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(z @ w + b, t) + l2 * w.pow(2).sum()
        loss.backward()
        return loss

    if len(classes) > 1:
        opt.step(closure)
    return Probe(classes, mean, std, w.detach(), b.detach())


def accuracy(probe: Probe, x, y) -> float:
    """The share of rows whose predicted class is their label (a class the probe never saw
    counts as wrong)."""
    return float(np.mean(probe.predict(x) == np.asarray(y)))
