"""Write synthetic cities as a dataset in VIGOR's exact layout (``splits__corrected`` labels).

::

    <root>/<City>/panorama/<id>,<lat>,<lon>,.jpg        north-centred equirectangular (default 512 x 1024)
    <root>/<City>/satellite/satellite_<lat>_<lon>.png    north-up, 640 x 640 at meta.json's meters_per_pixel
    <root>/<City>/pinhole/<id>.jpg + pinhole_labels.txt  one horizontal pinhole view per panorama (limited FoV)
    <root>/<City>/meta.json, poses.csv                   scale, camera height, datum, style, seed, gap; exact poses
    <root>/splits__corrected/<City>/satellite_list.txt
    <root>/splits__corrected/<City>/pano_label_balanced__corrected.txt
    <root>/splits__corrected/<City>/same_area_balanced_{train,test}__corrected.txt

A label line is the panorama, then the positive and three semi-positive satellite images, each followed by its
VIGOR offsets ``[d_north, d_east]`` = satellite centre - camera, in satellite pixels (``geometry``). Satellite
images lie on a grid of half their width, so every camera sits in the central half of exactly one (the positive)
and in the outer ring of three others (the semi-positives).
"""

from __future__ import annotations

import csv
import json
import math
import multiprocessing as mp
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from .. import geometry as geo
from .config import SimError, pinhole_focal_px
from .fsutil import atomic_dir
from .world import World

LABEL_ALL = "pano_label_balanced__corrected.txt"
LABEL_TRAIN = "same_area_balanced_train__corrected.txt"
LABEL_TEST = "same_area_balanced_test__corrected.txt"
SPLITS = "splits__corrected"


@dataclass
class DatasetConfig:
    n_per_city: int = 100
    pano_height: int = 512
    pano_width: int = 1024
    sat_size_px: int = 640
    sat_meters_per_pixel: float = 0.1
    camera_height_m: float = 2.0
    test_fraction: float = 0.2
    pinhole: bool = True
    pinhole_width: int = 640
    pinhole_height: int = 480
    pinhole_hfov_deg: float = 90.0
    jpeg_quality: int = 95
    seed: int = 0
    workers: int = 2


def city_name(world: World) -> str:
    return f"{world.style.capitalize()}{world.seed}"


def sample_cameras(world: World, n: int, rng: np.random.Generator, cfg: DatasetConfig):
    """``n`` camera positions (east, north) on free street space whose four satellite patches lie in the world."""
    spacing = cfg.sat_size_px * cfg.sat_meters_per_pixel / 2.0
    half_patch = cfg.sat_size_px * cfg.sat_meters_per_pixel / 2.0
    limit = world.size_m / 2.0 - half_patch  # max |centre| of a patch fully inside
    east, north = world.free_points_enu()
    if not len(east):
        raise SimError(f"world {city_name(world)} has no free street space for cameras")
    ce = np.round(east / spacing) * spacing
    cn = np.round(north / spacing) * spacing
    se = ce + np.where(east >= ce, spacing, -spacing)
    sn = cn + np.where(north >= cn, spacing, -spacing)
    ok = (np.maximum(np.abs(ce), np.abs(se)) <= limit + 1e-9) & (np.maximum(np.abs(cn), np.abs(sn)) <= limit + 1e-9)
    idx = np.flatnonzero(ok)
    if len(idx) < n:
        raise SimError(f"world {city_name(world)} ({world.size_m:.0f} m) has room for {len(idx)} camera pixels, "
                       f"fewer than the {n} panoramas asked; use a larger world (>= {4 * half_patch:.0f} m)")
    pick = rng.choice(idx, size=n, replace=False)
    jitter = rng.uniform(-0.5, 0.5, (n, 2)) * world.meters_per_pixel
    return np.stack([east[pick] + jitter[:, 0], north[pick] + jitter[:, 1]], axis=1)


def satellite_name(lat, lon) -> str:
    return f"satellite_{lat:.10f}_{lon:.10f}.png"


def plan_city(world: World, cfg: DatasetConfig, rng: np.random.Generator, city: str):
    """Panorama names, poses and label entries of one city (no rendering)."""
    spacing = cfg.sat_size_px * cfg.sat_meters_per_pixel / 2.0
    cams = sample_cameras(world, cfg.n_per_city, rng, cfg)
    yaws = rng.uniform(-math.pi, math.pi, len(cams))  # pinhole headings
    gap = world.gap
    attitude = [gap.draw_attitude(rng) for _ in range(len(cams))]
    sats: dict[tuple[int, int], str] = {}
    panos = []
    for i, (e, n) in enumerate(cams):
        lat, lon = world.enu_to_latlon(e, n)
        name = f"{city}{i:06d},{float(lat):.8f},{float(lon):.8f},.jpg"
        ke, kn = int(round(e / spacing)), int(round(n / spacing))
        de = 1 if e >= ke * spacing else -1
        dn = 1 if n >= kn * spacing else -1
        entries = []
        for (a, b) in ((ke, kn), (ke + de, kn), (ke, kn + dn), (ke + de, kn + dn)):
            if (a, b) not in sats:
                slat, slon = world.enu_to_latlon(a * spacing, b * spacing)
                sats[(a, b)] = satellite_name(float(slat), float(slon))
            row, col = geo.enu_to_patch_pixel(e, n, a * spacing, b * spacing, cfg.sat_meters_per_pixel,
                                              cfg.sat_size_px)
            d0, d1 = geo.pixel_to_vigor_offsets(row, col, cfg.sat_size_px)
            entries.append((sats[(a, b)], float(d0), float(d1)))
        panos.append(dict(name=name, east=float(e), north=float(n), lat=float(lat), lon=float(lon),
                          pinhole_yaw=float(yaws[i]), roll=attitude[i][0], pitch=attitude[i][1],
                          height_error=attitude[i][2], sats=entries))
    n_test = int(round(cfg.test_fraction * len(panos)))
    order = rng.permutation(len(panos))
    test = set(order[:n_test].tolist())
    for i, p in enumerate(panos):
        p["split"] = "test" if i in test else "train"
    return panos, {k: v for k, v in sorted(sats.items())}, spacing


# --- workers (module-level for multiprocessing) ---------------------------------------------------------------
_WORKER: dict = {}


def _init_worker(worlds, cfg):
    # no cv2.setNumThreads here: after fork, OpenCV's pool threads are gone and reconfiguring it deadlocks.
    # The parent stops its pool (setNumThreads(1)) before forking instead.
    _WORKER["worlds"] = worlds
    _WORKER["cfg"] = cfg


def _write_rgb(path: Path, img: np.ndarray, quality: int | None = None):
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if quality else [cv2.IMWRITE_PNG_COMPRESSION, 3]
    if not cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), params):
        raise SimError(f"cannot write {path}")


def _do_task(task):
    kind, city_i, out_dir, payload = task
    world = _WORKER["worlds"][city_i]
    cfg: DatasetConfig = _WORKER["cfg"]
    out = Path(out_dir)
    if kind == "pano":
        p = payload
        img = world.render_panorama(p["east"], p["north"], math.pi / 2.0, cfg.pano_height, cfg.pano_width,
                                    cfg.camera_height_m + p["height_error"], roll_rad=p["roll"],
                                    pitch_rad=p["pitch"])
        _write_rgb(out / "panorama" / p["name"], img, cfg.jpeg_quality)
        if cfg.pinhole:
            f = pinhole_focal_px(cfg.pinhole_width, cfg.pinhole_hfov_deg)
            ph = world.render_pinhole(p["east"], p["north"], p["pinhole_yaw"], cfg.pinhole_width, cfg.pinhole_height,
                                      f, f, cfg.pinhole_width / 2.0, cfg.pinhole_height / 2.0,
                                      cfg.camera_height_m + p["height_error"])
            _write_rgb(out / "pinhole" / (p["name"].split(",")[0] + ".jpg"), ph, cfg.jpeg_quality)
    else:
        (a, b), name, spacing = payload
        img = world.satellite_patch(a * spacing, b * spacing, cfg.sat_size_px, cfg.sat_meters_per_pixel)
        _write_rgb(out / "satellite" / name, img)
    return 1


def write_vigor_dataset(out_root, worlds: list[World], cfg: DatasetConfig, overwrite: bool = False,
                        progress: bool = True) -> dict:
    """Render and write ``cfg.n_per_city`` panoramas per world; returns a summary dict.

    Written under a temporary sibling folder and renamed at the end, so an interrupted run leaves nothing half-made.
    """
    out_root = Path(out_root)
    if out_root.exists() and not overwrite:
        raise SimError(f"{out_root} already exists; pass --overwrite to replace it")
    if cfg.n_per_city <= 0:
        raise SimError(f"the number of panoramas must be > 0, got {cfg.n_per_city}")
    with atomic_dir(out_root, "the dataset") as tmp:
        rng = np.random.default_rng([cfg.seed, 7])
        tasks, summary, names = [], {}, set()
        for ci, world in enumerate(worlds):
            city = city_name(world)
            if city in names:
                raise SimError(f"two worlds would both be named {city}; use different seeds or styles")
            names.add(city)
            cdir = tmp / city
            for sub in ("panorama", "satellite") + (("pinhole",) if cfg.pinhole else ()):
                (cdir / sub).mkdir(parents=True)
            panos, sats, spacing = plan_city(world, cfg, np.random.default_rng(rng.integers(2**31)), city)
            _write_city_text(tmp, city, world, cfg, panos, sats)
            tasks += [("sat", ci, str(cdir), (k, v, spacing)) for k, v in sats.items()]
            tasks += [("pano", ci, str(cdir), p) for p in panos]
            summary[city] = dict(panoramas=len(panos), satellites=len(sats),
                                 train=sum(p["split"] == "train" for p in panos),
                                 test=sum(p["split"] == "test" for p in panos))
        for world in worlds:  # build renderers once, before forking
            _ = world.renderer
        bar = tqdm(total=len(tasks), desc="dataset", unit="img", disable=not progress)
        if cfg.workers > 1:
            ctx = mp.get_context("fork")
            threads = cv2.getNumThreads()
            cv2.setNumThreads(1)  # join OpenCV's worker threads so forked children inherit no half-owned pool
            try:
                with ctx.Pool(cfg.workers, initializer=_init_worker, initargs=(worlds, cfg)) as pool:
                    for _ in pool.imap_unordered(_do_task, tasks, chunksize=4):
                        bar.update()
            finally:
                cv2.setNumThreads(threads)
        else:
            _init_worker(worlds, cfg)
            for t in tasks:
                _do_task(t)
                bar.update()
        bar.close()
    return summary


def _write_city_text(root: Path, city: str, world: World, cfg: DatasetConfig, panos, sats):
    split_dir = root / SPLITS / city
    split_dir.mkdir(parents=True)

    def line(p):
        return " ".join([p["name"]] + [f"{s} {d0:.4f} {d1:.4f}" for s, d0, d1 in p["sats"]])

    (split_dir / "satellite_list.txt").write_text("".join(f"{v}\n" for v in sats.values()))
    (split_dir / LABEL_ALL).write_text("".join(line(p) + "\n" for p in panos))
    (split_dir / LABEL_TRAIN).write_text("".join(line(p) + "\n" for p in panos if p["split"] == "train"))
    (split_dir / LABEL_TEST).write_text("".join(line(p) + "\n" for p in panos if p["split"] == "test"))
    cdir = root / city
    with open(cdir / "poses.csv", "w", newline="") as f:  # panorama names hold commas: csv quotes them
        wr = csv.writer(f)
        wr.writerow(["panorama", "east_m", "north_m", "lat", "lon", "split"])
        for p in panos:
            wr.writerow([p["name"], f"{p['east']:.4f}", f"{p['north']:.4f}", f"{p['lat']:.9f}", f"{p['lon']:.9f}",
                         p["split"]])
    fpx = pinhole_focal_px(cfg.pinhole_width, cfg.pinhole_hfov_deg)
    if cfg.pinhole:
        with open(cdir / "pinhole_labels.txt", "w") as f:
            f.write("# image panorama yaw_rad(ENU, CCW from east) width height fx fy cx cy\n")
            for p in panos:
                f.write(f"{p['name'].split(',')[0]}.jpg {p['name']} {p['pinhole_yaw']:.6f} {cfg.pinhole_width} "
                        f"{cfg.pinhole_height} {fpx:.4f} {fpx:.4f} {cfg.pinhole_width / 2:.1f} "
                        f"{cfg.pinhole_height / 2:.1f}\n")
    meta = dict(city=city, meters_per_pixel=cfg.sat_meters_per_pixel, sat_size_px=cfg.sat_size_px,
                camera_height_m=cfg.camera_height_m, pano_height=cfg.pano_height, pano_width=cfg.pano_width,
                panorama_convention="north at the centre column, azimuth increasing to the right (VIGOR)",
                offsets_convention="satellite centre - camera, pixels, [north, east]: row = S/2 + d0, col = S/2 - d1",
                origin_lat=world.origin_lat, origin_lon=world.origin_lon, style=world.style, seed=world.seed,
                gap=world.meta["gap"], world_size_m=world.size_m, world_meters_per_pixel=world.meters_per_pixel,
                world_dir=str(getattr(world, "path", "")) or None, dataset=asdict(cfg),
                pinhole=dict(width=cfg.pinhole_width, height=cfg.pinhole_height, fx=fpx, fy=fpx,
                             cx=cfg.pinhole_width / 2, cy=cfg.pinhole_height / 2, pitch_rad=0.0) if cfg.pinhole
                else None)
    (cdir / "meta.json").write_text(json.dumps(meta, indent=2))
