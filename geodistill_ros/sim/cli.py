"""``geodistill synth world|dataset|bag|baseline|bench``: synthetic worlds, VIGOR-layout datasets, rosbags, figures.

Examples::

    geodistill synth world --seed 0 --style downtown --out worlds/downtown0
    geodistill synth dataset --seed 0 --style downtown,suburb --n 500 --out data/synth_vigor
    geodistill synth dataset --world worlds/downtown0 --n 200 --out data/synth_vigor
    geodistill synth bag --world worlds/downtown0 --camera panorama --frames 300 --out bags/drive0
    geodistill synth baseline --seed 7 --style downtown
    geodistill synth bench --json bench_synth.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .config import DEFAULT_ORIGIN_LAT, DEFAULT_ORIGIN_LON, STYLES, SimError


def _world_args(p: argparse.ArgumentParser, multi: bool = False):
    g = p.add_argument_group("world (load one with --world, or generate with --seed/--style)")
    g.add_argument("--world", action="append" if multi else "store", metavar="DIR",
                   help="an existing world folder" + (" (repeatable: several cities)" if multi else ""))
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--style", default="downtown",
                   help=f"world style: {', '.join(STYLES)}" + (" (comma list: one city per style)" if multi else ""))
    g.add_argument("--size", type=float, default=None, metavar="M", help="world side in metres (default 1000; "
                   "400 for bags and datasets made on the fly)")
    g.add_argument("--mpp", type=float, default=0.2, help="world metres per pixel (default 0.2)")
    g.add_argument("--origin-lat", type=float, default=DEFAULT_ORIGIN_LAT)
    g.add_argument("--origin-lon", type=float, default=DEFAULT_ORIGIN_LON)
    g.add_argument("--no-gap", action="store_true", help="turn every satellite-ground gap effect off")
    if multi:
        g.add_argument("--cities", type=int, default=1, help="worlds per style (seeds S, S+1, ...) (default 1)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="synth_command", metavar="{world,dataset,bag,baseline,bench}")
    sub.required = True
    w = sub.add_parser("world", help="generate a world folder (scene, XYZ tiles, MBTiles, overview)")
    _world_args(w)
    w.add_argument("--out", required=True, help="world folder to write")
    w.add_argument("--overwrite", action="store_true", help="replace an existing output")
    w.add_argument("--no-tiles", action="store_true", help="skip the tile pyramid and MBTiles")
    w.add_argument("--baseline", type=int, default=40, metavar="N",
                   help="raw-pixel baseline trials stored in world.json (0 = skip; default 40)")
    w.set_defaults(synth_run=_run_world)

    d = sub.add_parser("dataset", help="write a VIGOR-layout dataset (several cities = several worlds)")
    _world_args(d, multi=True)
    d.add_argument("--n", type=int, default=100, help="panoramas per city (default 100)")
    d.add_argument("--out", required=True, help="dataset root to write")
    d.add_argument("--overwrite", action="store_true")
    d.add_argument("--workers", type=int, default=2)
    d.add_argument("--test-fraction", type=float, default=0.2)
    d.add_argument("--sat-mpp", type=float, default=0.1, help="satellite metres per pixel (default 0.1)")
    d.add_argument("--sat-size", type=int, default=640)
    d.add_argument("--pano-height", type=int, default=512)
    d.add_argument("--pano-width", type=int, default=1024)
    d.add_argument("--camera-height", type=float, default=2.0)
    d.add_argument("--no-pinhole", action="store_true", help="skip the pinhole views")
    d.set_defaults(synth_run=_run_dataset)

    b = sub.add_parser("bag", help="render a drive along the roads into a rosbag2")
    _world_args(b)
    b.add_argument("--out", required=True, help="bag folder to write")
    b.add_argument("--overwrite", action="store_true")
    b.add_argument("--camera", default="panorama", help="panorama | pinhole")
    b.add_argument("--frames", type=int, default=100)
    b.add_argument("--rate", type=float, default=5.0, help="camera/odometry/IMU rate in Hz (default 5)")
    b.add_argument("--gps-rate", type=float, default=2.0)
    b.add_argument("--gps-sigma", type=float, default=5.0, help="GPS horizontal sigma in m (bias + white)")
    b.add_argument("--storage", default="mcap", help="mcap (default) | sqlite3")
    b.add_argument("--compressed", action="store_true", help="JPEG images on /camera/image_raw/compressed")
    b.add_argument("--camera-height", type=float, default=2.0)
    b.add_argument("--traj-seed", type=int, default=0, help="trajectory/sensor-noise seed")
    b.add_argument("--tilt", action="store_true", help="tilt the vehicle per frame as the gap's attitude does "
                   "(panoramas); the IMU then reports the roll and pitch (node: level_with_imu)")
    b.set_defaults(synth_run=_run_bag)

    r = sub.add_parser("baseline", help="raw-pixel matching baseline with the gap on and off")
    r.add_argument("--seed", type=int, default=7)
    r.add_argument("--style", default="downtown")
    r.add_argument("--size", type=float, default=400.0)
    r.add_argument("--n", type=int, default=60)
    r.add_argument("--json", default=None, help="also write the figures to this file")
    r.set_defaults(synth_run=_run_baseline)

    from . import bench

    bn = sub.add_parser("bench", help="performance figures: render, world, dataset, baseline (JSON)")
    bench.add_arguments(bn)
    bn.set_defaults(synth_run=bench.run)


def run(args) -> int:
    try:
        return int(args.synth_run(args) or 0)
    except SimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


# --- commands -------------------------------------------------------------------------------------------------
def _make_world(args, seed=None, style=None, default_size=1000.0):
    from .world import World

    if getattr(args, "world", None):
        path = args.world if isinstance(args.world, str) else args.world[0]
        return World.load(path)
    return World.generate(seed=args.seed if seed is None else seed, style=style or args.style,
                          size_m=args.size if args.size is not None else default_size, meters_per_pixel=args.mpp,
                          origin_lat=args.origin_lat, origin_lon=args.origin_lon, gap=not args.no_gap)


def _check_out(path: str, overwrite: bool):
    p = Path(path)
    if p.exists() and not overwrite:
        raise SimError(f"{p} already exists; pass --overwrite to replace it")
    return p


def _run_world(args) -> int:
    from .baseline import raw_pixel_baseline
    from .config import check_style
    from .worldio import write_world_folder

    check_style(args.style)
    _check_out(args.out, args.overwrite)
    print(f"generating {args.style} world, seed {args.seed}, {args.size or 1000.0:.0f} m at {args.mpp} m/px ...",
          file=sys.stderr)
    from tqdm import tqdm

    with tqdm(total=3, desc="world", unit="step", bar_format="{desc}: {n}/{total}{postfix} [{elapsed}]") as bar:
        bar.set_postfix_str("layout and appearance")
        world = _make_world(args)
        bar.update()
        base = None
        if args.baseline > 0 and world.size_m >= 160:
            bar.set_postfix_str("raw-pixel baseline")
            base = raw_pixel_baseline(world, n=args.baseline, seed=args.seed)
        bar.update()
        bar.set_postfix_str("scene, tiles, MBTiles, overview")
        out = write_world_folder(world, args.out, overwrite=args.overwrite, tiles=not args.no_tiles, baseline=base)
        bar.update()
    print(json.dumps(dict(world=str(out), counts=world.meta["counts"], generation_s=world.meta["generation_s"],
                          tiles=world.meta.get("tiles"), baseline=base), indent=2))
    return 0


def _run_dataset(args) -> int:
    from .config import check_style
    from .dataset import DatasetConfig, write_vigor_dataset
    from .world import World

    _check_out(args.out, args.overwrite)
    if args.n <= 0:
        raise SimError(f"--n (panoramas per city) must be > 0, got {args.n}")
    worlds = []
    if args.world:
        worlds = [World.load(p) for p in args.world]
    else:
        styles = [s.strip() for s in args.style.split(",") if s.strip()]
        for s in styles:
            check_style(s)
        if args.cities <= 0:
            raise SimError(f"--cities must be > 0, got {args.cities}")
        for s in styles:
            for k in range(args.cities):
                print(f"generating {s} world, seed {args.seed + k} ...", file=sys.stderr)
                worlds.append(_make_world(args, seed=args.seed + k, style=s, default_size=400.0))
    cfg = DatasetConfig(n_per_city=args.n, pano_height=args.pano_height, pano_width=args.pano_width,
                        sat_size_px=args.sat_size, sat_meters_per_pixel=args.sat_mpp,
                        camera_height_m=args.camera_height, test_fraction=args.test_fraction,
                        pinhole=not args.no_pinhole, seed=args.seed, workers=max(1, args.workers))
    summary = write_vigor_dataset(args.out, worlds, cfg, overwrite=args.overwrite)
    print(json.dumps(dict(dataset=str(args.out), cities=summary), indent=2))
    return 0


def _run_bag(args) -> int:
    import cv2

    from .bag import BagConfig, write_bag
    from .config import check_style
    from .trajectory import SensorConfig
    from .worldio import overview_image

    if not args.world:
        check_style(args.style)
    _check_out(args.out, args.overwrite)
    if args.rate <= 0 or args.gps_rate <= 0:
        raise SimError("--rate and --gps-rate must be > 0")
    world = _make_world(args, default_size=400.0)
    cfg = BagConfig(frames=args.frames, camera=args.camera, camera_height_m=args.camera_height,
                    compressed=args.compressed, storage=args.storage, seed=args.traj_seed, tilt=args.tilt)
    sensors = SensorConfig(rate_hz=args.rate, gps_rate_hz=args.gps_rate, gps_sigma_m=args.gps_sigma)
    summary = write_bag(world, args.out, cfg, sensors, overwrite=args.overwrite, world_dir=args.world)
    traj = summary.pop("trajectory")
    import numpy as np

    k = len(traj.t) // 2
    view = world.render_panorama(traj.east[k], traj.north[k], traj.yaw[k], 256, 512)
    ov = overview_image(world, np.stack([traj.east, traj.north], 1), samples=[view])
    cv2.imwrite(str(Path(args.out) / "overview.png"), cv2.cvtColor(ov, cv2.COLOR_RGB2BGR))
    summary["overview"] = str(Path(args.out) / "overview.png")
    print(json.dumps(summary, indent=2))
    return 0


def _run_baseline(args) -> int:
    from .baseline import baseline_gap_on_off
    from .config import check_style

    check_style(args.style)
    res = baseline_gap_on_off(args.seed, args.style, size_m=args.size, n=args.n)
    res["world"] = dict(seed=args.seed, style=args.style, size_m=args.size)
    text = json.dumps(res, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="geodistill synth", description=__doc__.splitlines()[0])
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
