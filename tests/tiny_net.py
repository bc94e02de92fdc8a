"""TEST-ONLY: a stand-in body network, so pipeline tests run in seconds without real weights."""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp


class TinyNet(nn.Module):
    """8x8 average pool + 1x1 conv to `channels` (a model's heat maps + PAFs), tanh-squashed.

    input_scale multiplies the input first (1/255 for the command's uint8 frames)."""

    channels: int
    input_scale: float = 1.0

    @nn.compact
    def __call__(self, x):
        x = nn.avg_pool(x * self.input_scale, (8, 8), (8, 8))
        return jnp.tanh(nn.Conv(self.channels, (1, 1))(x) * 3.0)
