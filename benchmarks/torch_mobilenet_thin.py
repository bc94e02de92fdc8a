"""PyTorch peer of `jaxpose.nets.mobilenet_thin` for the training-step benchmark (NCHW).

    net = TorchMobileNetThin.from_flax(model.params)       # weights copied from our params
    stages = net(x_nchw)                                   # {"paf1": (N, 38, h, w), "heat1": ..., ...}
    loss = multi_stage_loss(stages, targets_nchw, weights_nchw, paf_offset, divisor)

The architecture is read from `jaxpose.nets.mobilenet_thin` (TRUNK, branch_layers, NUM_STAGES),
so both networks have the same layers, names, channels and TF "SAME" padding. Benchmark-only:
torch is the `bench` extra and nothing under jaxpose/ or tests/ imports this file.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from jaxpose.nets.mobilenet_thin import HEATMAP_CHANNELS, NUM_STAGES, PAF_CHANNELS, TRUNK, branch_layers


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF "SAME" (before, after) padding of one spatial axis (what `lax.padtype_to_pads` gives)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv(nn.Conv2d):
    """`nn.Conv2d` with TF "SAME" padding computed per input shape (stride 2 pads 0 before, 1 after)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (k, _), (s, _) = self.kernel_size, self.stride
        top, bottom = same_pads(x.shape[2], k, s)
        left, right = same_pads(x.shape[3], k, s)
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        return super().forward(x)


class TorchMobileNetThin(nn.Module):
    """(N, 3, H, W) BGR 0..255 -> every stage's PAFs and heatmaps, NCHW, keyed "paf{s}" / "heat{s}"."""

    def __init__(self) -> None:
        super().__init__()
        layers: dict[str, nn.Module] = {}
        name0, width0, stride0 = TRUNK[0]
        layers[name0] = SameConv(3, width0, 3, stride=stride0, bias=True)
        channels = width0
        for name, width, stride in TRUNK[1:]:
            self._separable(layers, name, channels, width, 3, stride)
            channels = width
        widths = dict((name, width) for name, width, _ in TRUNK)
        self.feature_channels = widths["Conv2d_3"] + widths["Conv2d_7"] + widths["Conv2d_11"]
        stage_in = self.feature_channels
        for stage in range(1, NUM_STAGES + 1):
            for branch, final in (("L1", PAF_CHANNELS), ("L2", HEATMAP_CHANNELS)):
                cin = stage_in
                for i, (kernel, width, _) in enumerate(branch_layers(stage), start=1):
                    self._separable(layers, f"MConv_Stage{stage}_{branch}_{i}", cin, width or final, kernel)
                    cin = width or final
            stage_in = PAF_CHANNELS + HEATMAP_CHANNELS + self.feature_channels
        self.layers = nn.ModuleDict(layers)

    @staticmethod
    def _separable(layers: dict, name: str, cin: int, cout: int, kernel: int, stride: int = 1) -> None:
        layers[f"{name}_depthwise"] = SameConv(cin, cin, kernel, stride=stride, groups=cin, bias=False)
        layers[f"{name}_pointwise"] = nn.Conv2d(cin, cout, 1, bias=True)

    def _sep(self, name: str, x: torch.Tensor, relu: bool = True) -> torch.Tensor:
        x = self.layers[f"{name}_pointwise"](self.layers[f"{name}_depthwise"](x))
        return F.relu(x) if relu else x

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = F.relu(self.layers[TRUNK[0][0]](x))
        taps = {}
        for name, _, _ in TRUNK[1:]:
            x = self._sep(name, x)
            taps[name] = x
        pooled = F.max_pool2d(taps["Conv2d_3"], 2, 2, ceil_mode=True)
        features = torch.cat([pooled, taps["Conv2d_7"], taps["Conv2d_11"]], dim=1)
        stages, stage_in = {}, features
        for stage in range(1, NUM_STAGES + 1):
            outputs = []
            for branch in ("L1", "L2"):
                y = stage_in
                for i, (_, _, relu) in enumerate(branch_layers(stage), start=1):
                    y = self._sep(f"MConv_Stage{stage}_{branch}_{i}", y, relu)
                outputs.append(y)
            stages[f"paf{stage}"], stages[f"heat{stage}"] = outputs
            stage_in = torch.cat([outputs[0], outputs[1], features], dim=1)
        return stages

    @classmethod
    def from_flax(cls, params: Any) -> "TorchMobileNetThin":
        """A network whose weights are `params` (Flax HWIO / (kh, kw, 1, C) kernels -> OIHW)."""
        net = cls()
        for name, module in net.layers.items():
            kernel = np.array(params[name]["kernel"], np.float32).transpose(3, 2, 0, 1)
            with torch.no_grad():
                module.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel)))
                if module.bias is not None:
                    module.bias.copy_(torch.from_numpy(np.array(params[name]["bias"], np.float32)))
        return net


def multi_stage_loss(stages: dict[str, torch.Tensor], targets: torch.Tensor, weights: torch.Tensor,
                     paf_offset: int, divisor: float) -> torch.Tensor:
    """sum over stages of sum((W * (P - Y))^2) / divisor, as `jaxpose.train.loss.multi_stage_loss`
    (targets and weights NCHW, heatmap channels first, PAFs from `paf_offset`)."""
    heat_y, paf_y = targets[:, :paf_offset], targets[:, paf_offset:]
    heat_w, paf_w = weights[:, :paf_offset], weights[:, paf_offset:]
    total = targets.new_zeros(())
    for name, pred in stages.items():
        y, w = (paf_y, paf_w) if name.startswith("paf") else (heat_y, heat_w)
        total = total + torch.sum((w * (pred - y)) ** 2) / divisor
    return total
