"""Field-of-view masks for the student (one contiguous visible azimuth sector)."""

from __future__ import annotations

import math

import torch


def sector_mask(width: int, height: int, start_azimuth_rad: torch.Tensor, fov_rad: torch.Tensor) -> torch.Tensor:
    """Masks ``[B, 1, H, W]``: 1 where the canvas azimuth lies in ``[start, start + fov)`` (CW, wrapping).

    Canvas column ``u`` centre has azimuth ``(u + 0.5) / W * 2pi - pi`` (VIGOR: north at the centre column).
    """
    u = torch.arange(width, dtype=torch.float32, device=start_azimuth_rad.device) + 0.5
    az = u / width * 2.0 * math.pi - math.pi
    rel = torch.remainder(az[None] - start_azimuth_rad[:, None], 2.0 * math.pi)
    row = (rel < fov_rad[:, None]).float()
    return row[:, None, None, :].expand(-1, 1, height, -1).contiguous()


def random_sector_mask(batch: int, width: int, height: int, fov_range_deg: tuple[float, float],
                       generator: torch.Generator | None = None, device="cpu") -> torch.Tensor:
    """One random contiguous sector per sample: width uniform in ``fov_range_deg``, start uniform."""
    lo, hi = math.radians(fov_range_deg[0]), math.radians(fov_range_deg[1])
    r = torch.rand(batch, 2, generator=generator)
    fov = lo + (hi - lo) * r[:, 0]
    start = r[:, 1] * 2.0 * math.pi
    return sector_mask(width, height, start.to(device), fov.to(device))
