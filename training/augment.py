"""Torch-side query manipulations: canvas yaw rolls and rotated / shifted satellite crops."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def roll_canvas(x: torch.Tensor, shift_deg: torch.Tensor) -> torch.Tensor:
    """Circularly shift equirectangular canvases ``[B, C, H, W]`` by ``shift_deg [B]`` (fractional, linear).

    ``out(azimuth) = in(azimuth - shift)``: content moves to larger (clockwise) azimuths. A canvas aligned
    with a yaw that is ``delta`` too small (CCW) is the true canvas rolled by ``+delta``.
    """
    b, _, _, w = x.shape
    shift_px = shift_deg.to(x.dtype) / 360.0 * w
    cols = torch.arange(w, dtype=x.dtype, device=x.device)[None] - shift_px[:, None]  # source column per output
    lo = torch.floor(cols)
    frac = (cols - lo)[:, None, None, :]
    i0 = torch.remainder(lo.long(), w)
    i1 = torch.remainder(i0 + 1, w)
    g0 = torch.gather(x, 3, i0[:, None, None, :].expand(-1, x.shape[1], x.shape[2], -1))
    g1 = torch.gather(x, 3, i1[:, None, None, :].expand(-1, x.shape[1], x.shape[2], -1))
    return g0 * (1.0 - frac) + g1 * frac


def crop_satellite(sat: torch.Tensor, center_row_px: torch.Tensor, center_col_px: torch.Tensor, size_px: int,
                   rotation_deg: torch.Tensor | None = None) -> torch.Tensor:
    """Crops ``[B, 3, size, size]`` centred on continuous pixels, same metres per pixel, optionally rotated.

    With ``rotation_deg = beta`` the crop shows the scene rotated counter-clockwise by ``beta`` on the map:
    the crop at azimuth ``a`` shows the source at azimuth ``a + beta``.
    """
    b, _, h, w = sat.shape
    beta = torch.zeros(b) if rotation_deg is None else rotation_deg.float()
    c, s = torch.cos(torch.deg2rad(beta)), torch.sin(torch.deg2rad(beta))
    kx, ky = size_px / w, size_px / h
    theta = torch.zeros(b, 2, 3, dtype=sat.dtype, device=sat.device)
    theta[:, 0, 0], theta[:, 0, 1] = kx * c, -kx * s
    theta[:, 1, 0], theta[:, 1, 1] = ky * s, ky * c
    theta[:, 0, 2] = 2.0 * center_col_px.float() / w - 1.0
    theta[:, 1, 2] = 2.0 * center_row_px.float() / h - 1.0
    grid = F.affine_grid(theta, (b, sat.shape[1], size_px, size_px), align_corners=False)
    return F.grid_sample(sat, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def rotate_scene_90(sat: torch.Tensor, ground: torch.Tensor, mask: torch.Tensor, k: int):
    """Rotate the whole scene counter-clockwise by ``k * 90`` degrees on the map (exact, no resampling):
    the satellite patch turns with ``torch.rot90`` and the north-aligned canvas rolls by ``-k`` quarters."""
    k = int(k) % 4
    if k == 0:
        return sat, ground, mask
    w = ground.shape[-1]
    if w % 4:
        raise ValueError(f"canvas width {w} must be a multiple of 4 for 90-degree scene rotations")
    shift = -k * w // 4
    return (torch.rot90(sat, k, dims=(2, 3)), torch.roll(ground, shift, dims=3), torch.roll(mask, shift, dims=3))
