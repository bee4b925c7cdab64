"""Tile crop latency: ``python -m geodistill_ros.tiles.bench [--json out.json]``.

Builds a synthetic pyramid in a temporary folder, serves it from a loopback HTTP server (127.0.0.1) and times a
``size x size`` crop (default 512 px at 0.2 m/px) three ways: cold (empty caches, tiles over HTTP), warm disk
cache (fresh memory cache every time), warm memory cache.  Also times the file-folder and MBTiles providers.
Prints one line per case and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from .. import geometry as geo
from .loopback import LoopbackTileServer
from .pyramid import write_tile_pyramid
from .source import open_tile_source

TARGETS_MS = {"memory_warm": 5.0, "disk_warm": 20.0, "http_cold": 150.0}


def _ortho(size_px: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.random((size_px // 16, size_px // 16, 3)).astype(np.float32), (size_px, size_px),
                     interpolation=cv2.INTER_CUBIC)
    img += 0.3 * cv2.resize(rng.random((size_px // 3, size_px // 3, 3)).astype(np.float32), (size_px, size_px))
    return (np.clip(img / 1.3, 0, 1) * 255).astype(np.uint8)


def _stats(samples: list[tuple[float, float]]) -> dict:
    """Wall-clock and process-CPU figures (CPU time shows the work itself when the machine is shared)."""
    wall = sorted(w for w, _ in samples)
    cpu = sorted(c for _, c in samples)
    return {"median_ms": statistics.median(wall), "p90_ms": wall[min(len(wall) - 1, int(0.9 * len(wall)))],
            "min_ms": wall[0], "cpu_median_ms": statistics.median(cpu), "n": len(wall)}


class _Timer:
    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.sample = ((time.perf_counter() - self.wall) * 1e3, (time.process_time() - self.cpu) * 1e3)


def _time(fn, n: int) -> list[tuple[float, float]]:
    out = []
    for i in range(n):
        with _Timer() as t:
            fn(i)
        out.append(t.sample)
    return out


def run_bench(size_px: int = 512, mpp: float = 0.2, repeats: int = 20, lat0: float = 47.3769,
              lon0: float = 8.5417) -> dict:
    with tempfile.TemporaryDirectory(prefix="tiles_bench_") as tmp:
        root = Path(tmp)
        ortho_px = 2000  # 400 m at 0.2 m/px
        write_tile_pyramid(_ortho(ortho_px), lat0, lon0, 0.2, root / "tiles", [17, 18, 19],
                           mbtiles_path=root / "w.mbtiles", save_mosaic=False)
        rng = np.random.default_rng(1)
        half = ortho_px * 0.2 / 2 - size_px * mpp / 2 - 5
        points = []
        for east, north in rng.uniform(-half, half, size=(repeats, 2)):
            lat, lon, _ = geo.enu_to_geodetic(east, north, 0.0, lat0, lon0)
            points.append((float(lat), float(lon)))
        results = {}
        with LoopbackTileServer(root / "tiles") as server:
            cold = []
            for i, (lat, lon) in enumerate(points):  # a fresh source and an empty cache every time
                with open_tile_source(server.template, cache_dir=root / f"cold{i}") as src:
                    with _Timer() as t:
                        crop = src.crop(lat, lon, size_px, mpp)
                    cold.append(t.sample)
                    tiles_per_crop = len(src.plan(lat, lon, size_px, mpp)[0].tile_keys)
                    assert crop.valid_mask.all()
            results["http_cold"] = _stats(cold)
            cache = root / "warm"
            with open_tile_source(server.template, cache_dir=cache) as src:
                for lat, lon in points:
                    src.crop(lat, lon, size_px, mpp)
            with open_tile_source(server.template, cache_dir=cache, offline=True, memory_cache_tiles=0) as src:
                results["disk_warm"] = _stats(_time(lambda i: src.crop(*points[i], size_px, mpp), repeats))
            with open_tile_source(server.template, cache_dir=cache, offline=True) as src:
                src.crop(*points[0], size_px, mpp)
                results["memory_warm"] = _stats(_time(lambda i: src.crop(*points[0], size_px, mpp), repeats))
        for name, spec in (("file_folder", str(root / "tiles")), ("mbtiles", str(root / "w.mbtiles"))):
            with open_tile_source(spec, memory_cache_tiles=0) as src:
                results[f"{name}_uncached"] = _stats(_time(lambda i: src.crop(*points[i], size_px, mpp), repeats))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "load_average_1min": load, "cpu_count": os.cpu_count(),
        "size_px": size_px, "meters_per_pixel": mpp, "zoom": 19, "tiles_per_crop": tiles_per_crop,
        "results": results, "targets_ms": TARGETS_MS,
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "cpu": platform.processor(),
                    "opencv": cv2.__version__, "cv2_threads": cv2.getNumThreads()},
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m geodistill_ros.tiles.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--mpp", type=float, default=0.2)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", default="tiles_bench.json", help="where to write the figures")
    args = parser.parse_args(argv)
    report = run_bench(args.size, args.mpp, args.repeats)
    print(f"crop {args.size}x{args.size} at {args.mpp:g} m/px (zoom {report['zoom']}, "
          f"{report['tiles_per_crop']} tiles per crop); load average {report['load_average_1min']:.1f} "
          f"on {report['cpu_count']} CPUs")
    for name, r in report["results"].items():
        target = TARGETS_MS.get(name)
        verdict = "" if target is None else f"  target <= {target:g} ms: {'OK' if r['median_ms'] <= target else 'MISS'}"
        print(f"  {name:20s} median {r['median_ms']:7.2f} ms  min {r['min_ms']:7.2f}  p90 {r['p90_ms']:7.2f}  "
              f"cpu {r['cpu_median_ms']:6.2f} ms  (n={r['n']}){verdict}")
    Path(args.json).write_text(json.dumps(report, indent=1))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
