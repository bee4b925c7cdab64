"""Evaluation queries from a north-centred panorama: full panorama, a visible sector, or a pinhole view."""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from geodistill_ros import geometry
from geodistill_ros.camera import PinholeCamera, fov_mask, ground_canvas

PINHOLE_ASPECT = 0.75  # height / width of the simulated pinhole images


def pinhole_from_panorama(pano: np.ndarray, yaw_rad: float, hfov_deg: float, width: int = 320,
                          height: int | None = None) -> tuple[np.ndarray, PinholeCamera]:
    """Render a level pinhole image (optical axis at ENU ``yaw_rad``) from a north-centred panorama."""
    height = height or int(round(width * PINHOLE_ASPECT))
    f = width / 2.0 / math.tan(math.radians(hfov_deg) / 2.0)
    cam = PinholeCamera(width, height, f, f, width / 2.0, height / 2.0)
    rays = geometry.pinhole_ray_directions(width, height, f, f, cam.cx, cam.cy)
    d = rays @ geometry.optical_to_enu_rotation(yaw_rad).T
    azimuth = np.arctan2(d[..., 0], d[..., 1])
    zenith = np.arccos(np.clip(d[..., 2], -1.0, 1.0))
    ph, pw = pano.shape[:2]
    u, v = geometry.panorama_uv(azimuth, zenith, pw, ph)
    img = cv2.remap(pano, (u - 0.5).astype(np.float32), (v - 0.5).astype(np.float32), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_WRAP)
    return img, cam


def make_query(pano: np.ndarray, fov_deg: float, heading_rad: float, canvas_hw: tuple[int, int]):
    """Canvas ``[Hg, Wg, 3]`` float32 and mask ``[Hg, Wg]`` for one query.

    ``fov_deg >= 360``: the panorama; ``180 <= fov < 360``: a visible azimuth sector centred on the heading
    (VIGOR limited-FoV protocol); ``fov < 180``: a pinhole camera of that horizontal FoV looking along the
    heading, warped into the canvas through :func:`geodistill_ros.camera.ground_canvas`.
    """
    hg, wg = canvas_hw
    if fov_deg >= 360.0:
        canvas = cv2.resize(pano, (wg, hg), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        return canvas, np.ones((hg, wg), np.float32)
    if fov_deg >= 180.0:
        canvas = cv2.resize(pano, (wg, hg), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        mask = fov_mask((hg, wg), float(geometry.yaw_to_azimuth(heading_rad)), math.radians(fov_deg))
        return canvas * mask[..., None], mask
    img, cam = pinhole_from_panorama(pano, heading_rad, fov_deg)
    return ground_canvas(img, cam, heading_rad, (hg, wg))


def query_tensors(canvas: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """One query as network inputs: canvas ``[Hg, Wg, 3]`` -> ``[1, 3, Hg, Wg]``, mask ``[Hg, Wg]`` ->
    ``[1, 1, Hg, Wg]``."""
    return torch.from_numpy(np.ascontiguousarray(canvas.transpose(2, 0, 1)))[None], torch.from_numpy(mask)[None, None]


def spread_indices(n_total: int, max_samples: int | None) -> np.ndarray:
    """Every index of a dataset of ``n_total`` samples, or ``max_samples`` of them spread evenly over it."""
    n = n_total if max_samples is None else min(n_total, max_samples)
    return np.linspace(0, n_total - 1, n).round().astype(int) if n < n_total else np.arange(n)
