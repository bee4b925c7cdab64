"""KITTI cross-view layout (HighlyAccurate / G2SWeakly): front pinhole camera + satellite map per frame.

Layout under ``root`` (as the HighlyAccurate / G2SWeakly loaders read it)::

    raw_data/<date>/calib_cam_to_cam.txt                       (P_rect_02: intrinsics of image_02)
    raw_data/<date>/<drive>/image_02/data/<frame>.png          (left colour camera)
    raw_data/<date>/<drive>/oxts/data/<frame>.txt              (lat lon alt roll pitch yaw ...; yaw ENU)
    satmap/<date>/<drive>/<frame>.png                          (north-up, centred on the frame's GPS)
    train_files.txt, test1_files.txt, test2_files.txt          (lines: <date>/<drive>/<frame>.png [lat lon])

Split lists are looked up in ``root`` and then ``root/dataLoader`` (where the reference repositories keep
them); a line may also name ``<date>/<drive>/image_02/data/<frame>.png``, and a satellite map stored under
that longer path is found too. The satellite map's metres per pixel comes from ``root/meta.json``
(``meters_per_pixel``) or defaults to the reference's zoom-18 / scale-2 value at Karlsruhe's latitude.

The satellite map is centred on the GPS antenna; the left colour camera sits ``camera_gps_shift_m``
(forward, right) from it (the reference's constant, 1.08 m forward and 0.26 m to the right), rotated by
the heading. The satellite patch of a sample is cut around a point offset from the camera by up to a
quarter of the patch (seeded per sample), so the camera is not at the centre; ``gt_row_px`` /
``gt_col_px`` say where it is. Patch centres (from the GPS) and the drive date feed the batch sampler so
that neighbouring frames, whose patches overlap, never share a batch.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from geodistill_ros import geometry
from geodistill_ros.camera import PinholeCamera, ground_canvas
from training.datasets.vigor import DatasetError, _read_rgb, local_metres

KITTI_SAT_MPP = float(geometry.mercator_meters_per_pixel(49.015, 18)) / 2.0
SPLIT_FILES = {"train": "train_files.txt", "val": "test1_files.txt", "test": "test1_files.txt",
               "test2": "test2_files.txt"}
CAMERA_GPS_SHIFT_M = (1.08, 0.26)  # left colour camera from the GPS antenna: forward, right (reference)


def read_p_rect_02(calib_path: Path) -> np.ndarray:
    if not calib_path.is_file():
        raise DatasetError(f"calibration file missing: {calib_path}")
    for line in calib_path.read_text().splitlines():
        if line.startswith("P_rect_02:"):
            return np.array([float(v) for v in line.split()[1:]]).reshape(3, 4)
    raise DatasetError(f"P_rect_02 missing in {calib_path}")


def read_oxts(path: Path) -> tuple[float, float, float]:
    """``(lat_deg, lon_deg, yaw_rad)`` of one OXTS line (yaw: ENU, 0 = east, counter-clockwise)."""
    if not path.is_file():
        raise DatasetError(f"oxts file missing: {path}")
    values = path.read_text().split()
    if len(values) < 6:
        raise DatasetError(f"malformed oxts file {path}")
    return float(values[0]), float(values[1]), float(values[5])


def camera_offset_enu(yaw_rad: float, shift_m=CAMERA_GPS_SHIFT_M) -> tuple[float, float]:
    """``(east_m, north_m)`` of the camera from the GPS antenna for a vehicle heading ``yaw_rad`` (ENU)."""
    fwd, right = shift_m
    c, s = math.cos(yaw_rad), math.sin(yaw_rad)
    return fwd * c + right * s, fwd * s - right * c


def parse_split_line(line: str) -> tuple[str, str, str]:
    """``(date, drive, frame_stem)`` of a split-list line (extra tokens such as satellite GPS are ignored)."""
    token = line.split()[0]
    parts = Path(token).parts
    if len(parts) < 3 or not parts[-1].endswith(".png"):
        raise DatasetError(f"KITTI split line {line!r} is not <date>/<drive>/<frame>.png")
    return parts[0], parts[1], Path(parts[-1]).stem


class KittiDataset(Dataset):
    def __init__(self, root, split: str = "train", sat_size_px: int = 320, meters_per_pixel: float = 0.2,
                 canvas_hw: tuple[int, int] = (128, 256), seed: int = 0,
                 camera_gps_shift_m: tuple[float, float] = CAMERA_GPS_SHIFT_M):
        self.root = Path(root)
        name = SPLIT_FILES.get(split)
        if name is None:
            raise DatasetError(f"KITTI split must be one of {sorted(SPLIT_FILES)}, got {split!r}")
        split_path = next((d / name for d in (self.root, self.root / "dataLoader") if (d / name).is_file()), None)
        if split_path is None:
            raise DatasetError(f"KITTI split file {name} not found under {self.root} or {self.root / 'dataLoader'}")
        lines = [ln.strip() for ln in split_path.read_text().splitlines() if ln.strip()]
        if not lines:
            raise DatasetError(f"KITTI split file {split_path} is empty")
        self.items = [(ln.split()[0], *parse_split_line(ln)) for ln in lines]
        meta = self.root / "meta.json"
        self.sat_mpp = float(json.loads(meta.read_text())["meters_per_pixel"]) if meta.is_file() else KITTI_SAT_MPP
        self.sat_size_px, self.meters_per_pixel = int(sat_size_px), float(meters_per_pixel)
        self.canvas_hw, self.seed = canvas_hw, seed
        self.camera_gps_shift_m = tuple(camera_gps_shift_m)
        gps = [read_oxts(self._paths(i)["oxts"]) for i in range(len(self.items))]
        dates = sorted({it[1] for it in self.items})
        self.city_ids = np.array([dates.index(it[1]) for it in self.items])
        origin, centers = {}, []
        for i, ((_, date, _, _), (lat, lon, yaw)) in enumerate(zip(self.items, gps)):
            lat0, lon0 = origin.setdefault(date, (lat, lon))
            east, north = local_metres(lat, lon, lat0, lon0)
            cam_e, cam_n = camera_offset_enu(yaw, self.camera_gps_shift_m)
            d_row, d_col = self._patch_offset_px(i)  # patch centre = camera - offset
            mpp = self.meters_per_pixel
            centers.append((east + cam_e - d_col * mpp, north + cam_n + d_row * mpp))
        self.sat_centers_m = np.array(centers, dtype=np.float64).reshape(-1, 2)
        self.patch_width_m = self.sat_size_px * self.meters_per_pixel

    def _patch_offset_px(self, index: int) -> tuple[float, float]:
        """Camera offset ``(d_row, d_col)`` from the patch centre (output pixels), seeded per sample."""
        quarter = self.sat_size_px / 4.0
        d_row, d_col = np.random.default_rng((self.seed, index)).uniform(-quarter, quarter, 2)
        return float(d_row), float(d_col)

    def __len__(self) -> int:
        return len(self.items)

    def _paths(self, index: int) -> dict:
        token, date, drive, frame = self.items[index]
        raw = self.root / "raw_data" / date
        sat = self.root / "satmap" / date / drive / f"{frame}.png"
        if not sat.is_file() and (self.root / "satmap" / token).is_file():
            sat = self.root / "satmap" / token
        return {"image": raw / drive / "image_02" / "data" / f"{frame}.png",
                "oxts": raw / drive / "oxts" / "data" / f"{frame}.txt",
                "calib": raw / "calib_cam_to_cam.txt", "satmap": sat}

    def __getitem__(self, index: int) -> dict:
        paths = self._paths(index)
        img = _read_rgb(paths["image"])
        _, _, yaw = read_oxts(paths["oxts"])
        if not math.isfinite(yaw):
            raise DatasetError(f"non-finite heading in {paths['oxts']}")
        p = read_p_rect_02(paths["calib"])
        cam = PinholeCamera(img.shape[1], img.shape[0], p[0, 0], p[1, 1], p[0, 2], p[1, 2])
        canvas, mask = ground_canvas(img, cam, yaw, self.canvas_hw)
        sat = _read_rgb(paths["satmap"])
        scale = self.sat_mpp / self.meters_per_pixel
        s_in = sat.shape[0]
        # the camera in the input map's continuous pixels (the GPS antenna is at the centre)
        east_m, north_m = camera_offset_enu(yaw, self.camera_gps_shift_m)
        cam_row_in, cam_col_in = geometry.enu_to_patch_pixel(east_m, north_m, 0.0, 0.0, self.sat_mpp, s_in)
        d_row, d_col = self._patch_offset_px(index)
        gt_row, gt_col = self.sat_size_px / 2.0 + d_row, self.sat_size_px / 2.0 + d_col
        # continuous pixels: p_out = (p_in - cam_in) * scale + gt; cv2 maps pixel centres (p - 0.5)
        m = np.array([[scale, 0.0, gt_col - cam_col_in * scale], [0.0, scale, gt_row - cam_row_in * scale]])
        m[:, 2] += 0.5 * scale - 0.5
        if scale < 1.0:
            sat = cv2.GaussianBlur(sat, (0, 0), 0.5 / scale)
        sat = cv2.warpAffine(sat, m, (self.sat_size_px, self.sat_size_px), flags=cv2.INTER_LINEAR)
        return {
            "ground": torch.from_numpy(np.ascontiguousarray(canvas.transpose(2, 0, 1))),
            "ground_mask": torch.from_numpy(mask)[None],
            "sat": torch.from_numpy(np.ascontiguousarray(sat.transpose(2, 0, 1)).astype(np.float32) / 255.0),
            "gt_row_px": torch.tensor(gt_row, dtype=torch.float32),
            "gt_col_px": torch.tensor(gt_col, dtype=torch.float32),
            "yaw_rad": torch.tensor(0.0),
            "sat_east_m": torch.tensor(self.sat_centers_m[index, 0], dtype=torch.float32),
            "sat_north_m": torch.tensor(self.sat_centers_m[index, 1], dtype=torch.float32),
            "city": torch.tensor(int(self.city_ids[index])), "index": torch.tensor(index),
            "camera_yaw_rad": torch.tensor(yaw),
        }
