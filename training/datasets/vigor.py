"""VIGOR-layout datasets: the real VIGOR benchmark and the synthetic worlds written by ``geodistill synth``.

Layout (per city / world folder ``root/<City>/``): ``panorama/<id>,<lat>,<lon>,.jpg`` (north-centred
equirectangular), ``satellite/satellite_<lat>_<lon>.png`` (north-up, 640 px), and label files
``root/splits/<City>/{same_area_balanced_train,same_area_balanced_test,pano_label_balanced}.txt`` whose lines
are ``<panorama> <sat> d_north d_east [<sat> d_north d_east]*3`` (positive first; offsets = satellite centre
minus camera, pixels of the 640-px image, see :func:`geodistill_ros.geometry.vigor_offsets_to_pixel`).
SliceMatch's corrected labels (``root/splits__corrected/<City>/*__corrected.txt``) are used when present.

Metres per pixel of the satellite images: ``meta.json`` (``meters_per_pixel``; at the root or in the city
folder) when present, otherwise the VIGOR per-city constants.

Splits: ``mode="same"``: train / val / test from every city's ``same_area_balanced_{train,test}``
(``val`` = the last ``val_fraction`` of the train list); ``mode="cross"``: train on NewYork + Seattle, test
on SanFrancisco + Chicago (``pano_label_balanced``). A synthetic dataset may also name its own split files
``splits/<City>/{train,val,test}.txt`` which win when present.

Each sample is a dict of tensors: ``ground [3, Hg, Wg]``, ``ground_mask [1, Hg, Wg]``, ``sat [3, S, S]``
(resampled to the model's metres per pixel and centre-cropped / padded to ``S``), ``gt_row_px``,
``gt_col_px`` (camera position in ``sat``; never used by the weakly supervised losses), ``yaw_rad`` (the
canvas yaw error, 0 here), ``sat_east_m``, ``sat_north_m`` (patch centre in a per-city local frame, for
the batch sampler), ``city`` (int), ``index``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from geodistill_ros import geometry
from geodistill_ros.camera import level_panorama
from training.datasets.photometric import MODES, augment_pair

# Metres per pixel of the 640-px VIGOR satellite images (the reference's per-city constants).
VIGOR_METERS_PER_PIXEL = {"NewYork": 0.113248, "Seattle": 0.100817, "SanFrancisco": 0.118141, "Chicago": 0.111262}
CROSS_AREA = {"train": ("NewYork", "Seattle"), "val": ("NewYork", "Seattle"), "test": ("SanFrancisco", "Chicago")}


class DatasetError(RuntimeError):
    """A dataset folder is missing files or has malformed labels."""


@dataclass
class VigorRecord:
    city: str
    panorama: Path
    satellite: Path
    d_north_px: float
    d_east_px: float
    sat_lat: float
    sat_lon: float
    sat_mpp: float


def parse_satellite_name(name: str) -> tuple[float, float]:
    stem = Path(name).stem
    parts = stem.split("_")
    if len(parts) < 3 or parts[0] != "satellite":
        raise DatasetError(f"satellite file name {name!r} is not satellite_<lat>_<lon>.<ext>")
    return float(parts[1]), float(parts[2])


def _city_mpp(root: Path, city: str) -> float:
    """Metres per pixel of the city's satellite images, expressed for a 640-px image (the label unit)."""
    for meta_path in (root / city / "meta.json", root / "meta.json"):
        if meta_path.is_file():
            meta = json.loads(meta_path.read_text())
            if "meters_per_pixel" in meta:
                return float(meta["meters_per_pixel"]) * float(meta.get("satellite_size_px", 640)) / 640.0
    if city in VIGOR_METERS_PER_PIXEL:
        return VIGOR_METERS_PER_PIXEL[city]
    raise DatasetError(f"no meters_per_pixel for {city!r}: add meta.json (meters_per_pixel) to {root}")


LABEL_DIRS = ("splits__corrected", "splits")  # SliceMatch's corrected labels win when present


def _label_file(root: Path, city: str, split: str, mode: str) -> tuple[Path, bool]:
    """The label file for ``split`` and whether the val tail / train head must be cut from it.

    Reads ``splits__corrected/<city>/`` (SliceMatch's corrected VIGOR labels, file names ending in
    ``__corrected.txt``) when that folder exists, else ``splits/<city>/`` (never a mix of the two); a
    dataset's own ``<split>.txt`` wins.
    """
    dirs = [root / d / city for d in LABEL_DIRS if (root / d / city).is_dir()][:1] or [root / "splits" / city]
    for d in dirs:
        if (d / f"{split}.txt").is_file():
            return d / f"{split}.txt", False
    if mode == "cross":  # cities pick the split; val is still the tail of the training cities' list
        stem = "pano_label_balanced"
    else:
        stem = "same_area_balanced_test" if split == "test" else "same_area_balanced_train"
    cut = split != "test"
    candidates = [d / f"{stem}{suffix}.txt" for d in dirs for suffix in ("__corrected", "")]
    return next((c for c in candidates if c.is_file()), candidates[-1]), cut


def read_records(root: str | Path, split: str, mode: str = "same", cities=(), val_fraction: float = 0.1,
                 positives_only: bool = True) -> list[VigorRecord]:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset root not found: {root}")
    if split not in ("train", "val", "test"):
        raise DatasetError(f"split must be train, val or test, got {split!r}")
    found = sorted(p.name for p in root.iterdir() if (p / "panorama").is_dir() and (p / "satellite").is_dir())
    if mode == "cross":
        found = [c for c in found if c in CROSS_AREA[split]] or found
    elif mode != "same":
        raise DatasetError(f"vigor mode must be 'same' or 'cross', got {mode!r}")
    if cities:
        found = [c for c in found if c in set(cities)]
    if not found:
        raise DatasetError(f"no city folders (with panorama/ and satellite/) under {root}")
    records: list[VigorRecord] = []
    for city in found:
        mpp = _city_mpp(root, city)
        path, cut = _label_file(root, city, split, mode)
        if not path.is_file():
            raise DatasetError(f"label file missing: {path}")
        lines = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
        if cut:
            n_val = int(round(len(lines) * val_fraction))
            lines = lines[len(lines) - n_val:] if split == "val" else lines[: len(lines) - n_val]
        for parts in lines:
            if len(parts) < 4 or (len(parts) - 1) % 3 != 0:
                raise DatasetError(f"malformed label line in {path}: {' '.join(parts)}")
            n_sat = 1 if positives_only else (len(parts) - 1) // 3
            for k in range(n_sat):
                sat_name = parts[1 + 3 * k]
                lat, lon = parse_satellite_name(sat_name)
                records.append(VigorRecord(city, root / city / "panorama" / parts[0],
                                           root / city / "satellite" / sat_name, float(parts[2 + 3 * k]),
                                           float(parts[3 + 3 * k]), lat, lon, mpp))
    return records


def _read_rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DatasetError(f"cannot read image {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _read_attitudes(root: Path, cities) -> dict:
    """``{city: {panorama name: (roll_rad, pitch_rad)}}`` from each ``<city>/attitude.json``."""
    out = {}
    for city in cities:
        path = root / city / "attitude.json"
        if not path.is_file():
            raise DatasetError(f"{path} is missing: this set records no camera attitude to level with")
        out[city] = {name: (float(a["roll_rad"]), float(a["pitch_rad"]))
                     for name, a in json.loads(path.read_text()).items()}
    return out


def gps_positioned_cities(root: Path, cities) -> list[str]:
    """Cities whose ``meta.json`` says ``positions: "gps"`` (``geodistill bag-dataset`` without ground truth): their
    label offsets put each camera at its GPS fix, which weak training ignores but no metric may use."""
    out = []
    for city in cities:
        path = root / city / "meta.json"
        if path.is_file() and json.loads(path.read_text()).get("positions") == "gps":
            out.append(city)
    return out


def require_surveyed(ds: VigorDataset, purpose: str) -> None:
    """Raise :class:`DatasetError` when ``ds`` holds GPS-positioned cities and ``purpose`` needs true positions."""
    gps = gps_positioned_cities(ds.root, ds.city_names)
    if gps:
        raise DatasetError(f"{purpose} needs true camera positions, but under {ds.root} the cities {gps} are labelled "
                           "with their GPS fixes (meta.json positions: gps; weak training only). Use a set made from "
                           "a bag with ground truth or surveyed positions")


def resample_satellite(image: np.ndarray, src_mpp: float, dst_mpp: float, size_px: int):
    """Resample a square north-up patch to ``dst_mpp`` and centre-crop / zero-pad it to ``size_px``.

    Returns the new patch and an affine map ``(scale, offset)``: ``p_new = p_src * scale - offset`` for
    continuous pixel coordinates (same in rows and columns).
    """
    s_in = image.shape[0]
    if image.shape[1] != s_in:
        raise DatasetError(f"satellite patch must be square, got {image.shape[:2]}")
    scale = src_mpp / dst_mpp
    # an affine warp keeps the centre exactly at the centre: p_new = (p_src - s_in/2) * scale + size/2
    offset = s_in / 2.0 * scale - size_px / 2.0
    m = np.array([[scale, 0.0, -offset], [0.0, scale, -offset]], dtype=np.float64)
    # cv2 maps pixel centres: x_cv = p - 0.5; p_new - 0.5 = scale * (p_src - 0.5) + (0.5 * scale - 0.5) - offset
    m[:, 2] += 0.5 * scale - 0.5
    src = image
    if scale < 1.0:  # low-pass before shrinking so the warp does not alias
        sigma = 0.5 / scale
        src = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma)
    out = cv2.warpAffine(src, m, (size_px, size_px), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return out, scale, offset


def local_metres(lat: float, lon: float, lat0: float, lon0: float) -> tuple[float, float]:
    e, n, _ = geometry.geodetic_to_enu(lat, lon, 0.0, lat0, lon0, 0.0)
    return float(e), float(n)


class VigorDataset(Dataset):
    def __init__(self, root, split: str = "train", mode: str = "same", cities=(), sat_size_px: int = 320,
                 meters_per_pixel: float = 0.2, canvas_hw: tuple[int, int] = (128, 256),
                 positives_only: bool = True, augment_color: bool = False, val_fraction: float = 0.1,
                 seed: int = 0, augment_mode: str = "mild", level_attitude: bool = False):
        """``level_attitude``: level every panorama by its recorded camera attitude (``<city>/attitude.json``,
        REP-103 roll / pitch, as ``training.make_synth_data`` writes it), as the runtime Localizer does when it is
        given an IMU's roll and pitch."""
        self.root = Path(root)
        self.split = split
        self.records = read_records(root, split, mode, cities, val_fraction, positives_only)
        if not self.records:
            raise DatasetError(f"no samples for split {split!r} under {root}")
        self.sat_size_px = int(sat_size_px)
        self.meters_per_pixel = float(meters_per_pixel)
        self.canvas_hw = (int(canvas_hw[0]), int(canvas_hw[1]))
        self.augment_color = augment_color
        if augment_mode not in MODES:
            raise ValueError(f"unknown augmentation mode {augment_mode!r} (one of {', '.join(MODES)})")
        self.augment_mode = augment_mode
        self.seed = seed
        self.city_names = sorted({r.city for r in self.records})
        origins = {}
        for r in self.records:
            origins.setdefault(r.city, (r.sat_lat, r.sat_lon))
        self.sat_centers_m = np.array([local_metres(r.sat_lat, r.sat_lon, *origins[r.city]) for r in self.records])
        self.city_ids = np.array([self.city_names.index(r.city) for r in self.records])
        self.attitude = _read_attitudes(self.root, self.city_names) if level_attitude else None
        self.patch_width_m = np.array([640 * r.sat_mpp for r in self.records])
        self._epoch = 0

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        self._epoch = epoch

    def load_panorama(self, index: int) -> np.ndarray:
        """The north-centred panorama, uint8 RGB (levelled with ``level_attitude``)."""
        return self._levelled(self.records[index], _read_rgb(self.records[index].panorama))

    def _levelled(self, r, pano: np.ndarray) -> np.ndarray:
        if self.attitude is None:
            return pano
        try:
            roll, pitch = self.attitude[r.city][r.panorama.name]
        except KeyError:
            raise DatasetError(f"{r.city}/attitude.json has no entry for {r.panorama.name}") from None
        return level_panorama(pano, geometry.tilt_rotation(roll, pitch))

    def __getitem__(self, index: int) -> dict:
        r = self.records[index]
        pano = _read_rgb(r.panorama)
        hg, wg = self.canvas_hw
        ground = self._levelled(r, cv2.resize(pano, (wg, hg), interpolation=cv2.INTER_AREA))
        ground = ground.astype(np.float32) / 255.0
        sat_raw = _read_rgb(r.satellite)
        src_mpp = r.sat_mpp * 640.0 / sat_raw.shape[0]
        sat, scale, offset = resample_satellite(sat_raw, src_mpp, self.meters_per_pixel, self.sat_size_px)
        sat = sat.astype(np.float32) / 255.0
        row_src, col_src = geometry.vigor_offsets_to_pixel(r.d_north_px * sat_raw.shape[0] / 640.0,
                                                           r.d_east_px * sat_raw.shape[0] / 640.0, sat_raw.shape[0])
        if self.augment_color:
            rng = np.random.default_rng((self.seed, self._epoch, index))
            ground, sat = augment_pair(ground, sat, rng, self.augment_mode)
        return {
            "ground": torch.from_numpy(np.ascontiguousarray(ground.transpose(2, 0, 1))),
            "ground_mask": torch.ones(1, hg, wg),
            "sat": torch.from_numpy(np.ascontiguousarray(sat.transpose(2, 0, 1))),
            "gt_row_px": torch.tensor(float(row_src) * scale - offset, dtype=torch.float32),
            "gt_col_px": torch.tensor(float(col_src) * scale - offset, dtype=torch.float32),
            "yaw_rad": torch.tensor(0.0),
            "sat_east_m": torch.tensor(self.sat_centers_m[index, 0], dtype=torch.float32),
            "sat_north_m": torch.tensor(self.sat_centers_m[index, 1], dtype=torch.float32),
            "city": torch.tensor(int(self.city_ids[index])),
            "index": torch.tensor(index),
        }


def describe(ds: VigorDataset) -> str:
    return f"{len(ds)} samples, cities {ds.city_names}, patch ~{float(np.mean(ds.patch_width_m)):.0f} m"
