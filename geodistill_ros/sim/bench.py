"""``geodistill synth bench``: the synthetic world's performance figures (printed and written as JSON).

Figures (issue 3's targets in brackets): median panorama 512x1024 render on one core [<= 40 ms], median pinhole
640x480 [<= 20 ms], generating a 1 km world [<= 60 s] and writing its folder (tiles, MBTiles, overview), writing
an N-pair VIGOR-layout dataset with W workers [1,000 pairs <= 3 min on 2 cores], and the raw-pixel baseline with
the gap on and off on one seed. Parts can be skipped (``--skip``) to keep a run short.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from .config import SimError, check_style

PARTS = ("render", "world", "dataset", "baseline")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--world", default=None, metavar="DIR", help="time renders/dataset on this world folder instead "
                   "of generating one (the world timing is then skipped)")
    p.add_argument("--seed", type=int, default=101, help="world seed (a fresh one by default)")
    p.add_argument("--style", default="downtown")
    p.add_argument("--world-size", type=float, default=1000.0, help="side of the timed world in metres")
    p.add_argument("--views", type=int, default=30, help="renders per camera for the medians")
    p.add_argument("--pairs", type=int, default=1000, help="panoramas in the timed dataset")
    p.add_argument("--workers", type=int, default=2, help="dataset worker processes")
    p.add_argument("--baseline-n", type=int, default=60, help="raw-pixel baseline trials per gap setting")
    p.add_argument("--baseline-size", type=float, default=400.0)
    p.add_argument("--skip", default="", help=f"comma list of parts to skip: {', '.join(PARTS)}")
    p.add_argument("--json", default=None, help="also write the figures to this file")


def _street_points(world, n, seed):
    east, north = world.free_points_enu()
    if not len(east):
        raise SimError("the world has no street space to render from")
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(east), size=min(n, len(east)), replace=False)
    return [(east[i], north[i], float(rng.uniform(-math.pi, math.pi))) for i in idx]


def bench_render(world, views: int, seed: int = 0) -> dict:
    """Median single-thread render times at random street points (one warm-up render each)."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        pts = _street_points(world, views, seed)
        out = {}
        for name, fn in (("panorama_512x1024_ms", lambda e, n, y: world.render_panorama(e, n, y, 512, 1024)),
                         ("pinhole_640x480_ms", lambda e, n, y: world.render_pinhole(e, n, y, 640, 480))):
            fn(*pts[0])
            ts = []
            for p in pts:
                t0 = time.perf_counter()
                fn(*p)
                ts.append((time.perf_counter() - t0) * 1000.0)
            out[name] = round(float(np.median(ts)), 1)
            out[name.replace("_ms", "_p90_ms")] = round(float(np.percentile(ts, 90)), 1)
        out["views"] = len(pts)
        return out
    finally:
        cv2.setNumThreads(threads)


def run(args) -> int:
    from .dataset import DatasetConfig, write_vigor_dataset
    from .world import World
    from .worldio import write_world_folder

    check_style(args.style)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if skip - set(PARTS):
        raise SimError(f"unknown part(s) to skip {sorted(skip - set(PARTS))}; parts: {', '.join(PARTS)}")
    res: dict = dict(machine=dict(cpus=os.cpu_count(), python=platform.python_version(), opencv=cv2.__version__,
                                  numpy=np.__version__, load_avg=list(os.getloadavg())),
                     world=dict(seed=args.seed, style=args.style, size_m=args.world_size))
    tmp = Path(tempfile.mkdtemp(prefix="geodistill-synth-bench-"))
    try:
        world = None
        if args.world:
            world = World.load(args.world, mmap=False)
            skip.add("world")
            res["world"] = dict(dir=str(args.world), seed=world.seed, style=world.style, size_m=world.size_m)
        elif "world" not in skip or "render" not in skip or "dataset" not in skip:
            t0 = time.perf_counter()
            world = World.generate(seed=args.seed, style=args.style, size_m=args.world_size)
            gen_s = time.perf_counter() - t0
            if "world" not in skip:
                t0 = time.perf_counter()
                write_world_folder(world, tmp / "world")
                res["world_timing"] = dict(generate_s=round(gen_s, 1), folder_s=round(time.perf_counter() - t0, 1),
                                           tile_count=world.meta.get("tile_count"))
                print(f"world {args.world_size:.0f} m: generate {gen_s:.1f} s, folder (tiles, MBTiles, overview) "
                      f"{res['world_timing']['folder_s']:.1f} s", file=sys.stderr)
        if "render" not in skip:
            res["render"] = bench_render(world, args.views, args.seed)
            print(f"render: {res['render']}", file=sys.stderr)
        if "dataset" not in skip:
            cfg = DatasetConfig(n_per_city=args.pairs, workers=max(1, args.workers), seed=args.seed)
            t0 = time.perf_counter()
            write_vigor_dataset(tmp / "dataset", [world], cfg)
            sec = time.perf_counter() - t0
            res["dataset"] = dict(pairs=args.pairs, workers=cfg.workers, seconds=round(sec, 1),
                                  seconds_per_1000_pairs=round(sec * 1000.0 / args.pairs, 1),
                                  note="panorama 512x1024 + pinhole 640x480 + satellite 640x640 per pair")
            print(f"dataset: {res['dataset']}", file=sys.stderr)
        if "baseline" not in skip:
            from .baseline import baseline_gap_on_off

            res["baseline"] = baseline_gap_on_off(args.seed, args.style, size_m=args.baseline_size,
                                                  n=args.baseline_n)
            for k, v in res["baseline"].items():
                print(f"baseline {k}: median {v['median_error_m']:.2f} m, within 1 m {v['within_1m']:.0%}, "
                      f"within 5 m {v['within_5m']:.0%}", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    text = json.dumps(res, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="geodistill synth bench", description=__doc__.splitlines()[0])
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        return run(args)
    except SimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
