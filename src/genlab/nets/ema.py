"""Exponential moving average of a network's weights, on torch's AveragedModel.

torch's own `get_ema_multi_avg_fn` uses a fixed decay, so after N updates the
average still holds decay^N of the random initialisation (a third of it after
1,000 steps at 0.999): samples from such an average are noise. The usual
warm-up, decay_n = min(decay, (1 + n) / (10 + n)), lets short runs sample well
and converges to the configured decay for long ones.
"""

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel

from genlab.utils.errors import ConfigError


def ema_model(module: nn.Module, decay: float) -> AveragedModel:
    if not 0.0 <= decay < 1.0:
        raise ConfigError(f"model.ema_decay={decay} must be in [0, 1)")

    def multi_avg_fn(ema_params: list[Tensor], params: list[Tensor], num_averaged: Tensor | int) -> None:
        n = int(num_averaged)
        weight = 1.0 - min(decay, (1.0 + n) / (10.0 + n))
        torch._foreach_lerp_(ema_params, params, weight)

    averaged = AveragedModel(module, multi_avg_fn=multi_avg_fn, use_buffers=True)
    return averaged.requires_grad_(False)
