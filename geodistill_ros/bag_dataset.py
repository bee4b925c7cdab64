"""``geodistill bag-dataset``: weakly paired training data from your own drives (rosbag2 + satellite tiles).

GeoDistill needs only weak labels: a ground image and the satellite patch it lies in. A drive recorded with a
GPS fix and a heading (the node's inputs) gives exactly that. For every kept camera frame this writes, in the
VIGOR layout that ``training.datasets.vigor`` reads:

- ``<City>/panorama/<City><i>,<lat>,<lon>,.jpg``: the panorama turned north-centred by the IMU heading (VIGOR),
  optionally levelled by the IMU's roll and pitch (``level_with_imu``); otherwise ``<City>/attitude.json``
  records them (REP-103, as ``training.make_synth_data`` does) for ``geodistill eval --level-attitude``;
- ``<City>/satellite/satellite_<lat>_<lon>.png``: a north-up patch centred on the GPS fix (the weak label: the
  camera is somewhere inside it), or moved off it at random by up to ``patch_jitter_m`` per axis;
- ``splits/<City>/same_area_balanced_{train,test}.txt``: one positive per line with its VIGOR offsets;
- ``<City>/meta.json`` (``meters_per_pixel``, ``positions``, the source bag) and ``<City>/poses.csv``.

``positions`` says what the offsets encode. ``"ground_truth"``: the bag's ``/ground_truth/pose`` (synthetic bags,
or a surveyed / RTK track): the set can be evaluated. ``"gps"``: the fix itself, i.e. every camera at its patch
centre. Weak training never reads the offsets, so such a set trains, but ``geodistill eval`` refuses it
(``training.datasets.vigor.require_surveyed``).

Frames are kept every ``min_spacing_m`` of travel (along the ground truth when the labels use it, else
along the fixes) so a stop does not flood the set with copies.
The test split is the last ``test_fraction`` of the drive (contiguous, so its frames are not neighbours of
training frames; a drive that revisits a place still shares views, so use another drive for an honest figure).
Only panorama cameras are supported: the VIGOR layout stores panoramas.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from geodistill_ros import bagio, geometry
from geodistill_ros.camera import PanoramaCamera, camera_from_info, ground_canvas
from geodistill_ros.evaluation import (
    GPS_TOPIC,
    IMU_TOPIC,
    TRUTH_TOPIC,
    EvaluationError,
    bag_folder,
    datum_of,
    find_camera_topic,
    frames_with_sensors,
    image_from_msg,
    imu_yaw,
    pose_from_msg,
    world_dir_of,
    world_tiles,
)
from geodistill_ros.navsat import navsat_cov_en
from geodistill_ros.sim.dataset import satellite_name

POSITIONS = ("auto", "ground_truth", "gps")
SPLITS_DIR = "splits"
LABEL_TRAIN = "same_area_balanced_train.txt"
LABEL_TEST = "same_area_balanced_test.txt"


class BagDatasetError(ValueError):
    """The bag cannot be turned into a dataset (no panorama camera, no heading, no fix, ...)."""


@dataclass
class BagDatasetConfig:
    sat_size_px: int = 640  # VIGOR's satellite size
    sat_meters_per_pixel: float = 0.1
    min_spacing_m: float = 2.0  # keep a frame once the fix has moved this far from the last kept one
    test_fraction: float = 0.0  # the drive's last share, as the test split
    positions: str = "auto"  # auto: ground_truth when the bag has /ground_truth/pose, else gps
    level_with_imu: bool = False  # level each panorama by the IMU's roll / pitch before writing it
    camera_yaw_rad: float = 0.0  # camera forward relative to base_link's x axis (the node's camera_yaw_rad)
    max_gps_sigma_m: float = 8.0  # skip fixes less certain than this (per axis): the patch must hold the camera
    min_valid_fraction: float = 0.95  # skip patches with more missing tiles than this allows
    max_truth_gap_s: float = 0.1  # ground truth must lie this close in time to the frame
    max_fix_age_s: float = 1.0  # skip frames whose latest fix is older (a GPS dropout leaves a stale fix)
    # move each patch centre off the fix by up to this much per axis (uniform; VIGOR's patches lie on a grid, so its
    # cameras are anywhere in them). 0: centred on the fix, as the node crops at run time
    patch_jitter_m: float = 0.0
    seed: int = 0  # of the jitter
    jpeg_quality: int = 95
    zoom: int | None = None  # tile zoom (default: the source picks it for the resolution)

    def __post_init__(self):
        if self.positions not in POSITIONS:
            raise BagDatasetError(f"positions must be one of {', '.join(POSITIONS)}, got {self.positions!r}")
        if not 0.0 <= self.test_fraction < 1.0:
            raise BagDatasetError(f"test_fraction must be in [0, 1), got {self.test_fraction}")
        if self.min_spacing_m < 0.0 or not math.isfinite(self.min_spacing_m):
            raise BagDatasetError(f"min_spacing_m must be >= 0, got {self.min_spacing_m}")
        if not 0.0 <= self.patch_jitter_m < self.sat_size_px * self.sat_meters_per_pixel / 2.0:
            raise BagDatasetError(f"patch_jitter_m must be in [0, half the patch width), got {self.patch_jitter_m}")
        if self.sat_size_px < 16 or self.sat_meters_per_pixel <= 0.0:
            raise BagDatasetError("sat_size_px must be >= 16 and sat_meters_per_pixel > 0")


# --- pure pieces -----------------------------------------------------------------------------------------
def keep_by_spacing(en_m: np.ndarray, min_spacing_m: float) -> np.ndarray:
    """Indices of the points ``en_m [N, 2]`` to keep: the first, then each one at least ``min_spacing_m`` from
    the last kept one (a stop keeps one frame; a pass at speed keeps one per spacing)."""
    en_m = np.asarray(en_m, np.float64).reshape(-1, 2)
    keep, last = [], None
    for i, p in enumerate(en_m):
        if last is None or float(np.hypot(*(p - last))) >= min_spacing_m:
            keep.append(i)
            last = p
    return np.asarray(keep, np.int64)


def split_tail(n: int, test_fraction: float) -> list[str]:
    """``"train"`` for the first frames of a drive and ``"test"`` for its last ``test_fraction``."""
    n_test = int(round(n * test_fraction))
    return ["train"] * (n - n_test) + ["test"] * n_test


def nearest_in_time(stamps_ns: np.ndarray, t_ns: int) -> int:
    """Index of the stamp nearest ``t_ns`` in the sorted ``stamps_ns`` (-1 when empty)."""
    if not len(stamps_ns):
        return -1
    k = int(np.searchsorted(stamps_ns, t_ns))
    cands = [c for c in (k - 1, k) if 0 <= c < len(stamps_ns)]
    return min(cands, key=lambda c: abs(int(stamps_ns[c]) - t_ns))


def panorama_name(city: str, i: int, lat: float, lon: float) -> str:
    return f"{city}{i:06d},{lat:.8f},{lon:.8f},.jpg"


def city_of(bag: Path) -> str:
    """A VIGOR city name from the bag folder's name (letters and digits only)."""
    name = "".join(ch for ch in bag_folder(bag).name if ch.isalnum())
    return name[:1].upper() + name[1:] if name else "Drive"


# --- the bag ---------------------------------------------------------------------------------------------
def _read_truth(bag: Path) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth stamps ``[N]`` and ENU positions ``[N, 2]`` (empty when the bag has none)."""
    with bagio.open_reader(bag) as reader:
        if TRUTH_TOPIC not in bagio.topics(reader):
            return np.zeros(0, np.int64), np.zeros((0, 2))
        rows = []
        for _topic, msgtype, _t, raw in bagio.iter_messages(reader, [TRUTH_TOPIC]):
            stamp, e, n, _yaw, _cov = pose_from_msg(bagio.deserialize(raw, msgtype), msgtype)
            rows.append((stamp, e, n))
    rows.sort()
    return np.array([r[0] for r in rows], np.int64), np.array([[r[1], r[2]] for r in rows]).reshape(-1, 2)


def _frames(bag: Path, camera_topic: str | None):
    """Yield ``(stamp_ns, (raw, msgtype), camera_info, fix, imu)`` per camera frame, each sensor the latest one recorded
    before the frame (or at the same instant), as the node sees them."""
    with bagio.open_reader(bag) as reader:
        info = bagio.topics(reader)
        cam = find_camera_topic(info, camera_topic)
        if GPS_TOPIC not in info:
            raise BagDatasetError(f"{GPS_TOPIC} not in {bag}: the GPS fix is the weak label")
        if IMU_TOPIC not in info:
            raise BagDatasetError(f"{IMU_TOPIC} not in {bag}: a heading is needed to north-align the panoramas")
        for msgtype, raw, last in frames_with_sensors(reader, cam):
            yield bagio.header_stamp_ns(raw), (raw, msgtype), last["info"], last["fix"], last["imu"]


def _plan(bag: Path, cfg: BagDatasetConfig, datum, camera_topic: str | None, skipped: Counter,
          truth=None) -> list[dict]:
    """The frames to write (stamp, fix, ``track_en``: the ENU position the spacing used, camera yaw, roll / pitch),
    read without decoding an image.

    ``truth``: ``(stamps_ns, en_m)`` when the labels come from it; the spacing then follows the true track (a
    fix at 2 Hz under a 5 Hz camera would keep one frame per fix), else it follows the fixes.
    """
    plan, track_en = [], []
    for stamp, _raw, cam_info, fix, imu in _frames(bag, camera_topic):
        if cam_info is None or fix is None or imu is None:
            skipped["no camera_info, fix or IMU yet"] += 1
            continue
        if not isinstance(camera_from_info(cam_info), PanoramaCamera):
            raise BagDatasetError(f"{bag}: the camera is a pinhole; bag-dataset writes VIGOR panoramas only")
        if stamp - bagio.stamp_to_ns(fix.header.stamp) > cfg.max_fix_age_s * 1e9:
            skipped["fix older than max_fix_age_s"] += 1
            continue
        sigma = math.sqrt(max(float(np.max(np.diag(navsat_cov_en(fix)))), 0.0))
        if sigma > cfg.max_gps_sigma_m:
            skipped["fix too uncertain"] += 1
            continue
        if truth is not None and len(truth[0]):
            k = nearest_in_time(truth[0], stamp)
            if abs(int(truth[0][k]) - stamp) > cfg.max_truth_gap_s * 1e9:
                skipped["no ground truth near the frame"] += 1
                continue
            here = tuple(float(v) for v in truth[1][k])
        else:
            e, n, _ = geometry.geodetic_to_enu(fix.latitude, fix.longitude, 0.0, *datum)
            here = (float(e), float(n))
        track_en.append(here)
        q = imu.orientation
        roll, pitch = geometry.roll_pitch_from_quaternion(q.x, q.y, q.z, q.w)
        plan.append(dict(stamp=stamp, fix=(float(fix.latitude), float(fix.longitude)), track_en=here,
                         yaw=imu_yaw(imu)[0] + cfg.camera_yaw_rad, roll=roll, pitch=pitch))
    keep = keep_by_spacing(np.asarray(track_en).reshape(-1, 2), cfg.min_spacing_m)
    if len(plan) - len(keep):
        skipped["closer than min_spacing_m"] = len(plan) - len(keep)
    return [plan[i] for i in keep]


def write_bag_dataset(bags, out_root, cfg: BagDatasetConfig | None = None, tiles: str | None = None,
                      datum: tuple[float, float] | None = None, cities=None, camera_topic: str | None = None,
                      overwrite: bool = False, progress: bool = True) -> dict:
    """Write one VIGOR city per bag under ``out_root``; returns ``{city: summary}``.

    ``tiles``: a tile source spec for every bag (default: each bag's world tiles). ``datum``: the map frame's
    origin (default: the bag's ``geodistill_world.json``); needed for the ground truth and the spacing.
    """
    from geodistill_ros.sim.fsutil import atomic_dir

    cfg = cfg or BagDatasetConfig()
    bags = [Path(b) for b in bags]
    cities = list(cities) if cities else [city_of(b) for b in bags]
    if len(cities) != len(bags) or len(set(cities)) != len(cities):
        raise BagDatasetError(f"one distinct city name per bag needed, got {cities} for {len(bags)} bags")
    out_root = Path(out_root)
    if out_root.exists() and not overwrite:
        raise BagDatasetError(f"{out_root} already exists; pass --overwrite to replace it")
    summary = {}
    with atomic_dir(out_root, "the dataset") as tmp:
        for bag, city in zip(bags, cities):
            summary[city] = _write_city(bag, tmp, city, cfg, tiles, datum, camera_topic, progress)
        (tmp / "bag_dataset.json").write_text(json.dumps({"config": asdict(cfg), "cities": summary}, indent=2))
    return summary


def _write_city(bag, root: Path, city: str, cfg: BagDatasetConfig, tiles, datum, camera_topic, progress) -> dict:
    """Write one bag as the VIGOR city ``city`` under ``root``; returns its summary."""
    from tqdm import tqdm

    from geodistill_ros.tiles import TileError, open_tile_source

    try:
        datum = datum_of(bag, datum)
    except EvaluationError as exc:
        raise BagDatasetError(str(exc)) from None
    spec = tiles
    if spec is None:
        spec = world_tiles(world_dir_of(bag))
        if spec is None:
            raise BagDatasetError(f"{bag} names no world with tiles: give --tiles (a URL template, folder, "
                                  "MBTiles or GeoTIFF)")
    truth_ns, truth_en = _read_truth(bag)
    positions = cfg.positions
    if positions == "auto":
        positions = "ground_truth" if len(truth_ns) else "gps"
    if positions == "ground_truth" and not len(truth_ns):
        raise BagDatasetError(f"positions=ground_truth but {bag} has no {TRUTH_TOPIC}")
    skipped: Counter[str] = Counter()
    plan = _plan(bag, cfg, datum, camera_topic, skipped,
                 (truth_ns, truth_en) if positions == "ground_truth" else None)
    cdir = root / city
    for sub in ("panorama", "satellite"):
        (cdir / sub).mkdir(parents=True)
    src = open_tile_source(spec)
    rows = []
    wanted = {p["stamp"]: p for p in plan}
    bar = tqdm(total=len(plan), desc=city, unit="frame", disable=not progress)
    try:
        for stamp, raw, *_ in _frames(bag, camera_topic):  # second pass: decode the kept frames only
            p = wanted.pop(stamp, None)
            if p is None:
                continue
            bar.update(1)
            if positions == "ground_truth":  # _plan's track_en is then the true position at the frame
                lat, lon, _ = geometry.enu_to_geodetic(*p["track_en"], 0.0, *datum)
                lat, lon = float(lat), float(lon)
            else:
                lat, lon = p["fix"]
            centre = p["fix"]
            if cfg.patch_jitter_m > 0.0:
                je, jn = np.random.default_rng([cfg.seed, p["stamp"] % (2**62)]).uniform(
                    -cfg.patch_jitter_m, cfg.patch_jitter_m, 2)
                clat, clon, _ = geometry.enu_to_geodetic(je, jn, 0.0, *centre)
                centre = (float(clat), float(clon))
            try:
                crop = src.crop(centre[0], centre[1], cfg.sat_size_px, cfg.sat_meters_per_pixel, zoom=cfg.zoom)
            except TileError as exc:
                key = f"tiles: {type(exc).__name__}"
                skipped[key] += 1
                continue
            if crop.valid_fraction < cfg.min_valid_fraction:
                skipped["patch missing tiles"] += 1
                continue
            row, col = (float(v) for v in crop.latlon_to_pixel(lat, lon))
            if not (0.0 <= row < cfg.sat_size_px and 0.0 <= col < cfg.sat_size_px):
                skipped["camera outside its patch (GPS outlier)"] += 1
                continue
            image = image_from_msg(bagio.deserialize(*raw))
            tilt = geometry.tilt_rotation(p["roll"], p["pitch"], cfg.camera_yaw_rad) if cfg.level_with_imu else None
            canvas, _ = ground_canvas(image, PanoramaCamera(image.shape[1], image.shape[0]), p["yaw"],
                                      image.shape[:2], tilt)
            name = panorama_name(city, len(rows), lat, lon)
            sat = satellite_name(crop.center_lat, crop.center_lon)
            _write_rgb(cdir / "panorama" / name, np.clip(canvas * 255.0 + 0.5, 0, 255).astype(np.uint8),
                       cfg.jpeg_quality)
            _write_rgb(cdir / "satellite" / sat, crop.image)
            d0, d1 = geometry.pixel_to_vigor_offsets(row * 640.0 / cfg.sat_size_px, col * 640.0 / cfg.sat_size_px,
                                                     640)
            rows.append(dict(name=name, sat=sat, d0=float(d0), d1=float(d1), lat=lat, lon=lon, stamp=p["stamp"],
                             roll=p["roll"], pitch=p["pitch"], yaw=p["yaw"]))
    finally:
        bar.close()
        src.close()
    if not rows:
        raise BagDatasetError(f"{bag}: no frame could be written (skipped: {dict(skipped) or 'none'})")
    for r, split in zip(rows, split_tail(len(rows), cfg.test_fraction)):
        r["split"] = split
    _write_text(root, city, rows, cfg, positions, bag, spec)
    return dict(frames=len(rows), train=sum(r["split"] == "train" for r in rows),
                test=sum(r["split"] == "test" for r in rows), positions=positions, skipped=dict(skipped))


def _write_rgb(path: Path, img: np.ndarray, quality: int | None = None) -> None:
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if quality is not None and path.suffix == ".jpg" else []
    if not cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), params):
        raise OSError(f"cannot write {path}")


def _write_text(root: Path, city: str, rows: list[dict], cfg: BagDatasetConfig, positions: str, bag: Path,
                tiles: str) -> None:
    sdir = root / SPLITS_DIR / city
    sdir.mkdir(parents=True)
    for fname, split in ((LABEL_TRAIN, "train"), (LABEL_TEST, "test")):
        (sdir / fname).write_text("".join(f"{r['name']} {r['sat']} {r['d0']:.4f} {r['d1']:.4f}\n"
                                          for r in rows if r["split"] == split))
    cdir = root / city
    with open(cdir / "poses.csv", "w", newline="") as f:  # panorama names hold commas: csv quotes them
        wr = csv.writer(f)
        wr.writerow(["panorama", "stamp_ns", "lat", "lon", "yaw_rad", "split"])
        for r in rows:
            wr.writerow([r["name"], r["stamp"], f"{r['lat']:.9f}", f"{r['lon']:.9f}", f"{r['yaw']:.6f}", r["split"]])
    if not cfg.level_with_imu:
        (cdir / "attitude.json").write_text(json.dumps(
            {r["name"]: {"roll_rad": r["roll"], "pitch_rad": r["pitch"]} for r in rows}, indent=0))
    meta = dict(city=city, meters_per_pixel=cfg.sat_meters_per_pixel * cfg.sat_size_px / 640.0,
                satellite_size_px=640, positions=positions, source_bag=str(bag), tiles=str(tiles),
                levelled_with_imu=cfg.level_with_imu,
                panorama_convention="north at the centre column, azimuth increasing to the right (VIGOR)",
                offsets_convention="satellite centre - camera, pixels, [north, east]: row = S/2 + d0, col = S/2 - d1",
                satellite_centre="the GPS fix of the frame (the weak label)" + (
                    f", moved by up to {cfg.patch_jitter_m:g} m per axis" if cfg.patch_jitter_m else ""),
                config=asdict(cfg))
    (cdir / "meta.json").write_text(json.dumps(meta, indent=2))


# --- CLI -------------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = BagDatasetConfig()
    parser.add_argument("bags", nargs="+", type=Path, help="rosbag2 folders (one VIGOR city each)")
    parser.add_argument("--out", required=True, type=Path, help="dataset root to write")
    parser.add_argument("--tiles", default=None, help="tile source for every bag (default: the bag's world)")
    parser.add_argument("--datum", type=float, nargs=2, default=None, metavar=("LAT", "LON"),
                        help="map frame origin (default: the bag's geodistill_world.json)")
    parser.add_argument("--city", nargs="+", default=None, help="city names, one per bag (default: folder names)")
    parser.add_argument("--camera-topic", default=None)
    parser.add_argument("--positions", choices=POSITIONS, default=d.positions,
                        help="what the label offsets encode (auto: the bag's ground truth when it has one)")
    parser.add_argument("--min-spacing-m", type=float, default=d.min_spacing_m)
    parser.add_argument("--test-fraction", type=float, default=d.test_fraction,
                        help="the drive's last share as the test split (default none)")
    parser.add_argument("--level-with-imu", action="store_true", help="level each panorama by the IMU's roll/pitch")
    parser.add_argument("--camera-yaw", type=float, default=d.camera_yaw_rad, help="camera mount yaw (rad)")
    parser.add_argument("--sat-size", type=int, default=d.sat_size_px)
    parser.add_argument("--sat-mpp", type=float, default=d.sat_meters_per_pixel)
    parser.add_argument("--max-gps-sigma", type=float, default=d.max_gps_sigma_m)
    parser.add_argument("--patch-jitter-m", type=float, default=d.patch_jitter_m,
                        help="move each patch centre off the fix by up to this much per axis (cameras anywhere in "
                             "their patches, as in VIGOR)")
    parser.add_argument("--seed", type=int, default=d.seed, help="seed of the patch jitter")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from geodistill_ros.sim.config import SimError
    from geodistill_ros.tiles import TileError

    try:
        cfg = BagDatasetConfig(sat_size_px=args.sat_size, sat_meters_per_pixel=args.sat_mpp,
                               min_spacing_m=args.min_spacing_m, test_fraction=args.test_fraction,
                               positions=args.positions, level_with_imu=args.level_with_imu,
                               camera_yaw_rad=args.camera_yaw, max_gps_sigma_m=args.max_gps_sigma,
                               patch_jitter_m=args.patch_jitter_m, seed=args.seed)
        summary = write_bag_dataset(args.bags, args.out, cfg, tiles=args.tiles, datum=args.datum, cities=args.city,
                                    camera_topic=args.camera_topic, overwrite=args.overwrite,
                                    progress=not args.no_progress)
    except (BagDatasetError, EvaluationError, TileError, SimError, bagio.BagError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"out": str(args.out), "cities": summary}, indent=2))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="geodistill bag-dataset", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
