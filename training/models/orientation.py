"""Orientation network: Siamese CNN over polar views of the satellite patch and of the ground BEV.

Both inputs are resampled onto the same polar grid about the patch centre (``A`` azimuths x ``R`` radii,
top-down): the satellite patch directly, the ground canvas through the ground-to-aerial projection (a BEV
cell at bearing ``az`` and ground range ``r`` samples the canvas where that ground point appears).  In
polar form a yaw error is a circular shift along the azimuth axis, so a shared CNN (circular padding in
azimuth) turns each into an azimuth signature ``[C, A]`` and the yaw logits are their circular
cross-correlation at the shifts ``-range + k + 0.5`` degrees (bin ``k``).

Bin ``k`` is the yaw *correction* (CCW positive, degrees) to add to the yaw the canvas was aligned with.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from geodistill_ros import geometry
from training.config import ModelConfig, OrientationConfig
from training.models.input_norm import normalize_image
from training.models.projection import wrap_pad_columns


def polar_sample_points(n_azimuth: int, radii_m: np.ndarray, azimuth_offset_deg: float = 0.0):
    """East/north offsets ``[R, A]`` (metres) of a polar grid: rows = radius, columns = azimuth (CW from N)."""
    az = np.radians(np.arange(n_azimuth, dtype=np.float64) * 360.0 / n_azimuth + azimuth_offset_deg)
    rr, aa = np.meshgrid(radii_m, az, indexing="ij")
    return rr * np.sin(aa), rr * np.cos(aa)


class CircularConv(nn.Module):
    """3x3 conv, circular along the azimuth (last) axis, zero-padded along the radius."""

    def __init__(self, c_in: int, c_out: int, stride: tuple[int, int] = (1, 1)):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=(1, 0), bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x):
        return F.relu(self.bn(self.conv(wrap_pad_columns(x, 1))))


class OrientationNet(nn.Module):
    def __init__(self, cfg: OrientationConfig, model_cfg: ModelConfig, n_azimuth: int = 360, n_radius: int = 32):
        super().__init__()
        self.cfg = cfg
        self.model_cfg = model_cfg
        self.n_azimuth = n_azimuth
        self.bins = int(cfg.bins)
        self.step_deg = 2.0 * cfg.range_deg / cfg.bins
        if abs(self.step_deg - 360.0 / n_azimuth) > 1e-9:
            raise ValueError("the polar azimuth step must equal the yaw bin width")
        mpp = model_cfg.meters_per_pixel
        max_r_m = cfg.sat_size_px / 2.0 * mpp
        radii = (np.arange(n_radius, dtype=np.float64) + 0.5) / n_radius * max_r_m
        # satellite polar grid: azimuths on whole bins; ground grid: offset half a bin, so shift j <-> j + 0.5 deg
        e, n = polar_sample_points(n_azimuth, radii)
        s = cfg.sat_size_px
        row, col = geometry.enu_to_patch_pixel(e, n, 0.0, 0.0, mpp, s)
        sat_grid = np.stack([2.0 * col / s - 1.0, 2.0 * row / s - 1.0], axis=-1)[None].astype(np.float32)
        self.register_buffer("sat_grid", torch.from_numpy(sat_grid), persistent=False)
        e, n = polar_sample_points(n_azimuth, radii, azimuth_offset_deg=0.5 * self.step_deg)
        hg, wg = model_cfg.ground_height_px, model_cfg.ground_width_px
        u, v = geometry.ground_point_to_panorama_uv(e, n, model_cfg.camera_height_m, wg, hg)
        g_grid = np.stack([2.0 * (u + 1) / (wg + 2) - 1.0, 2.0 * np.minimum(v, hg - 0.5) / hg - 1.0], axis=-1)
        self.register_buffer("ground_grid", torch.from_numpy(g_grid[None].astype(np.float32)), persistent=False)
        layers, c_prev = [], 4
        for i, c in enumerate(cfg.channels):
            stride = (2, 1) if i > 0 else (1, 1)
            layers += [CircularConv(c_prev, c, stride), CircularConv(c, c)]
            c_prev = c
        self.encoder = nn.Sequential(*layers)
        self.head = nn.Conv2d(c_prev, c_prev, 1)
        self.log_scale = nn.Parameter(torch.tensor(0.0))  # logits = 10 * exp(log_scale) * mean cosine
        shifts = np.arange(self.bins) - self.bins // 2  # in azimuth samples
        self.register_buffer("shifts", torch.from_numpy(shifts.astype(np.int64)), persistent=False)

    def polar_views(self, sat, ground, ground_mask):
        b = sat.shape[0]
        sat_p = F.grid_sample(sat, self.sat_grid.expand(b, -1, -1, -1), align_corners=False)
        sat_valid = torch.ones_like(sat_p[:, :1])
        g = torch.cat([ground * ground_mask, ground_mask], dim=1)
        g_p = F.grid_sample(wrap_pad_columns(g, 1), self.ground_grid.expand(b, -1, -1, -1), align_corners=False)
        return torch.cat([sat_p, sat_valid], 1), g_p

    def signature(self, polar: torch.Tensor) -> torch.Tensor:
        x = torch.cat([normalize_image(polar[:, :3], polar[:, 3:]), polar[:, 3:]], dim=1)
        f = self.head(self.encoder(x)).mean(dim=2)  # pool over radius: [B, C, A]
        return F.normalize(f - f.mean(dim=2, keepdim=True), dim=1)

    def forward(self, sat, ground, ground_mask) -> torch.Tensor:
        sat_p, g_p = self.polar_views(sat, ground, ground_mask)
        vis = g_p[:, 3:].mean(dim=2)  # [B, 1, A] visible share per azimuth
        return self.shift_scores(self.signature(sat_p), self.signature(g_p), vis) * self.log_scale.exp() * 10.0

    def shift_scores(self, fs: torch.Tensor, fg: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        """Mean similarity ``[B, bins]`` of azimuth signatures ``[B, C, A]`` at every yaw-correction bin.

        A canvas aligned with a yaw that is too small by ``delta`` (CCW) shows everything at an azimuth larger
        by ``delta``; ground azimuth ``a`` (+ half a bin) is compared with satellite azimuth ``a - shift``.
        """
        fg = fg * vis
        scores = [(torch.roll(fs, shifts=sh, dims=2) * fg).sum(dim=(1, 2)) for sh in self.shifts.tolist()]
        return torch.stack(scores, dim=1) / vis.sum(dim=(1, 2)).clamp_min(1.0)[:, None]
