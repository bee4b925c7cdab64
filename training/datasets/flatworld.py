"""A tiny flat-ground world in the VIGOR layout, for tests and smoke runs (no dependency on ``sim``).

The ground plane carries a random texture; panoramas are rendered by intersecting each ray below the
horizon with the ground (camera ``camera_height_m`` above it), so the ground-to-aerial projection is exact.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from geodistill_ros import geometry
from geodistill_ros.camera import canvas_directions
from training.datasets.splits import write_splits

_ORIGIN = (48.0, 11.0)


def _texture(rng: np.random.Generator, size_px: int) -> np.ndarray:
    img = np.zeros((size_px, size_px, 3), np.float32)
    for scale in (64, 16, 4):
        n = max(2, size_px // scale)
        noise = rng.random((n, n, 3)).astype(np.float32)
        img += cv2.resize(noise, (size_px, size_px), interpolation=cv2.INTER_CUBIC) / 3.0
    for _ in range(size_px // 40):  # a few straight "roads"
        p0, p1 = rng.integers(0, size_px, 2), rng.integers(0, size_px, 2)
        cv2.line(img, tuple(int(v) for v in p0), tuple(int(v) for v in p1), (0.2, 0.2, 0.2), int(rng.integers(3, 8)))
    return np.clip(img, 0, 1)


def render_flat_panorama(texture: np.ndarray, world_mpp: float, east_m: float, north_m: float, height: int,
                         width: int, camera_height_m: float = 2.0) -> np.ndarray:
    """North-centred panorama (VIGOR layout) of the textured plane; the world centre is ENU (0, 0)."""
    s = texture.shape[0]
    az, zen = canvas_directions((height, width))
    below = zen > np.pi / 2 + 1e-3
    dist = camera_height_m * np.tan(np.pi - np.where(below, zen, np.pi))
    e = east_m + dist * np.sin(az)
    n = north_m + dist * np.cos(az)
    col = (s / 2.0 + e / world_mpp - 0.5).astype(np.float32)
    row = (s / 2.0 - n / world_mpp - 0.5).astype(np.float32)
    ground = cv2.remap(texture, col, row, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0.5,) * 3)
    sky = np.broadcast_to(np.array([0.6, 0.7, 0.9], np.float32), ground.shape)
    out = np.where(below[..., None], ground, sky)
    return (np.clip(out, 0, 1) * 255).astype(np.uint8)


def write_flat_world_dataset(root: str | Path, n_panoramas: int = 32, seed: int = 0, city: str = "Flat",
                             world_size_px: int = 1024, world_mpp: float = 0.2, sat_size_px: int = 320,
                             pano_hw: tuple[int, int] = (128, 256), n_test: int = 8) -> Path:
    """Write ``root/<city>/{panorama,satellite}``, ``root/splits/<city>/{train,test}.txt`` and meta.json.

    Satellite images are ``sat_size_px`` wide at ``world_mpp`` and labelled as 640-px VIGOR images
    (meta.json: ``meters_per_pixel`` = ``world_mpp * sat_size_px / 640``, ``satellite_size_px`` = 640).
    """
    rng = np.random.default_rng(seed)
    root = Path(root)
    (root / city / "panorama").mkdir(parents=True, exist_ok=True)
    (root / city / "satellite").mkdir(parents=True, exist_ok=True)
    (root / "splits" / city).mkdir(parents=True, exist_ok=True)
    tex = _texture(rng, world_size_px)
    half_world_m = world_size_px * world_mpp / 2.0
    patch_m = sat_size_px * world_mpp
    lines = []
    for i in range(n_panoramas):
        c_e, c_n = rng.uniform(-half_world_m + patch_m / 2, half_world_m - patch_m / 2, 2)
        cam_e, cam_n = c_e + rng.uniform(-patch_m / 4, patch_m / 4), c_n + rng.uniform(-patch_m / 4, patch_m / 4)
        lat, lon, _ = geometry.enu_to_geodetic(c_e, c_n, 0.0, *_ORIGIN)
        plat, plon, _ = geometry.enu_to_geodetic(cam_e, cam_n, 0.0, *_ORIGIN)
        sat_name = f"satellite_{float(lat):.8f}_{float(lon):.8f}.png"
        pano_name = f"p{i:05d},{float(plat):.8f},{float(plon):.8f},.jpg"
        r0 = world_size_px / 2.0 - c_n / world_mpp - sat_size_px / 2.0
        c0 = world_size_px / 2.0 + c_e / world_mpp - sat_size_px / 2.0
        m = np.float32([[1, 0, c0], [0, 1, r0]])
        sat = cv2.warpAffine(tex, m, (sat_size_px, sat_size_px), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        cv2.imwrite(str(root / city / "satellite" / sat_name), cv2.cvtColor((sat * 255).astype(np.uint8),
                                                                            cv2.COLOR_RGB2BGR))
        pano = render_flat_panorama(tex, world_mpp, cam_e, cam_n, *pano_hw)
        cv2.imwrite(str(root / city / "panorama" / pano_name), cv2.cvtColor(pano, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 95])
        # VIGOR offsets in 640-px units: satellite centre minus camera
        k = 640.0 / sat_size_px
        row, col = geometry.enu_to_patch_pixel(cam_e, cam_n, c_e, c_n, world_mpp, sat_size_px)
        d_n, d_e = geometry.pixel_to_vigor_offsets(row * k, col * k, 640)
        lines.append(f"{pano_name} {sat_name} {float(d_n):.4f} {float(d_e):.4f}")
    write_splits(root / "splits" / city, lines[: n_panoramas - n_test], lines[n_panoramas - n_test:])
    meta = {"meters_per_pixel": world_mpp * sat_size_px / 640.0, "satellite_size_px": 640, "kind": "flatworld",
            "seed": seed}
    (root / "meta.json").write_text(json.dumps(meta, indent=2))
    return root
