"""Small convolutional building blocks shared by the encoders."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_bn_relu(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class DownStage(nn.Module):
    """A 4x4 stride-2 conv (padding 1), then a residual 3x3 conv.

    The even kernel keeps every output cell centred on its 2x2 input block (a stride-2 3x3 conv would shift
    the features by half an input pixel per stage, which the weak loss cannot see and turns into a bias).
    """

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.down = nn.Sequential(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out),
                                  nn.ReLU(inplace=True))
        self.conv = nn.Sequential(nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.down(x)
        return F.relu(x + self.conv(x))


class UpStage(nn.Module):
    """Upsample x2, concatenate the skip, fuse with a 3x3 conv (U-Net decoder step)."""

    def __init__(self, c_in: int, c_skip: int, c_out: int):
        super().__init__()
        self.fuse = conv_bn_relu(c_in + c_skip, c_out)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.fuse(torch.cat([x, skip], dim=1))


class UNetEncoder(nn.Module):
    """Encoder at strides 2, 4, ..., 2**len(channels) and a U-Net decoder back up to ``min_stride``.

    ``forward`` returns a dict stride -> decoder feature map for every stride from the deepest down to
    ``min_stride``.
    """

    def __init__(self, in_channels: int, channels: tuple[int, ...], min_stride: int):
        super().__init__()
        self.channels = tuple(int(c) for c in channels)
        self.min_stride = int(min_stride)
        self.stages = nn.ModuleList()
        c_prev = in_channels
        for c in self.channels:
            self.stages.append(DownStage(c_prev, c))
            c_prev = c
        self.ups = nn.ModuleList()
        strides = [2 ** (i + 1) for i in range(len(self.channels))]
        self.out_channels = {strides[-1]: self.channels[-1]}
        c_up = self.channels[-1]
        for i in range(len(self.channels) - 2, -1, -1):
            if strides[i] < self.min_stride:
                break
            self.ups.append(UpStage(c_up, self.channels[i], self.channels[i]))
            c_up = self.channels[i]
            self.out_channels[strides[i]] = c_up

    def forward(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        skips = []
        for stage in self.stages:
            x = stage(x)
            skips.append(x)
        stride = 2 ** len(skips)
        out = {stride: x}
        for up, skip in zip(self.ups, reversed(skips[:-1])):
            x = up(x, skip)
            stride //= 2
            out[stride] = x
        return out
