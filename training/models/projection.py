"""Fixed ground-to-aerial projection (VIGOR convention) as precomputed ``grid_sample`` grids.

A bird's-eye-view (BEV) cell at offset ``(d_row, d_col)`` satellite pixels from the camera sees the ground
point ``east = d_col * m/px``, ``north = -d_row * m/px`` at ``camera_height_m`` below the camera; its
panorama coordinates come from :func:`geodistill_ros.geometry.ground_point_to_panorama_uv`.  The grid is a
constant: building it needs only the BEV layout, the camera height, the metres per pixel and the size of the
ground feature map.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from geodistill_ros import geometry


def bev_offsets_px(size_cells: int, stride_px: float) -> np.ndarray:
    """Offsets (satellite pixels) of the centres of an odd ``size_cells`` BEV row from its centre cell."""
    if size_cells % 2 != 1:
        raise ValueError(f"BEV size must be odd so the camera sits on a cell centre, got {size_cells}")
    half = size_cells // 2
    return (np.arange(size_cells, dtype=np.float64) - half) * stride_px


def template_cells(sat_size_px: int, stride_px: int, fraction: float) -> int:
    """Odd number of BEV cells covering ``fraction`` of the training satellite width at ``stride_px``."""
    n = int(round(fraction * sat_size_px / stride_px))
    return n + 1 if n % 2 == 0 else max(1, n)


def polar_grid(size_cells: int, stride_px: float, meters_per_pixel: float, camera_height_m: float,
               feat_hw: tuple[int, int], wrap_pad: int = 1) -> np.ndarray:
    """``grid_sample`` grid ``[1, K, K, 2]`` (x, y in [-1, 1], align_corners=False) into a ground feature map.

    The feature map is assumed padded by ``wrap_pad`` columns of circular padding on each side (so the
    panorama seam interpolates across the wrap); ``feat_hw`` is the unpadded size.
    """
    hf, wf = feat_hw
    off = bev_offsets_px(size_cells, stride_px)
    d_row, d_col = np.meshgrid(off, off, indexing="ij")
    east_m = d_col * meters_per_pixel
    north_m = -d_row * meters_per_pixel
    u, v = geometry.ground_point_to_panorama_uv(east_m, north_m, camera_height_m, wf, hf)
    v = np.minimum(v, hf - 0.5)  # the nadir (centre cell) samples the bottom row's centre
    x = 2.0 * (u + wrap_pad) / (wf + 2 * wrap_pad) - 1.0
    y = 2.0 * v / hf - 1.0
    return np.stack([x, y], axis=-1)[None].astype(np.float32)


def wrap_pad_columns(feat: torch.Tensor, pad: int = 1) -> torch.Tensor:
    """Circular padding of the azimuth (last) axis only."""
    return torch.cat([feat[..., -pad:], feat, feat[..., :pad]], dim=-1)


def project_to_bev(feat: torch.Tensor, grid: torch.Tensor, wrap_pad: int = 1) -> torch.Tensor:
    """Sample ``feat [B, C, Hf, Wf]`` (equirectangular) at ``grid [1, K, K, 2]`` -> ``[B, C, K, K]``."""
    padded = wrap_pad_columns(feat, wrap_pad)
    g = grid.expand(feat.shape[0], -1, -1, -1)
    return F.grid_sample(padded, g, mode="bilinear", padding_mode="border", align_corners=False)
