"""A user's own model, loss and loader, registered from their own module."""

from pydantic import PositiveInt
from torch import nn

from alchemi_core import Loss, Params, register_loss, register_model


class TinyParams(Params):
    """Checked when the config loads: unknown names, wrong types, bottleneck <= 0 are refused."""

    input_dim: PositiveInt | None = None  # inferred from the data when omitted
    bottleneck: PositiveInt = 2


@register_model("TinyAutoencoder", params=TinyParams)
class TinyAutoencoder(nn.Module):
    def __init__(self, input_dim: int, bottleneck: int = 2):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(input_dim, bottleneck), nn.Linear(bottleneck, input_dim))

    def forward(self, batch):
        return {"reconstruction": self.net(batch["numerical"])}


@register_loss("TinyMSE")
class TinyMSE(Loss):
    metric_names = ("mse",)

    def forward(self, out, batch):
        mse = (out["reconstruction"] - batch["numerical"]).pow(2).mean()
        return {"loss": mse, "mse": mse.detach()}


@register_model("BrokenModel")
class BrokenModel(nn.Module):
    """Raises inside forward: an internal error, not the user's config. No params model: its
    params are checked against the constructor's signature."""

    def __init__(self, input_dim: int):
        super().__init__()
        self.lin = nn.Linear(input_dim, 1)

    def forward(self, batch):
        raise RuntimeError("bug inside the model")
