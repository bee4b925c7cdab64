"""``geodistill bench``: per-stage latency of every available inference backend, in one run.

For each backend (each in a fresh process, so its peak resident memory is its own) it times the stages of
localizing one frame -- preprocessing (ground canvas + mask), ground branch, orientation, postprocessing
(posterior + yaw) -- over ``--frames`` frames with a cached satellite tile, and the extra stages of a new tile
(tile crop, satellite encoder) over ``--new-tiles`` tiles.  Writes JSON::

    {"backends": {"onnxruntime": {"backend_name": .., "end_to_end_ms": {"p50", "p90", "p99", "mean"},
                                  "new_tile_ms": {...}, "stages": {"preprocessing": {...}, ...},
                                  "end_to_end_cpu_ms": {...}, "fps": .., "peak_rss_mb": ..}, "torch": {...}, ...},
     "speedup_vs_torch": {"onnxruntime": ..}, ...}

and prints a short table.  Tiles come from ``--tiles`` (a synthetic world folder, a tile folder or an
.mbtiles file) or else from a synthetic pyramid written to a temporary folder and read through the tile
source's in-memory cache.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np

from geodistill_ros import geometry
from geodistill_ros.inference.errors import InferenceError

DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "models"
DEFAULT_BACKENDS = ("tensorrt", "onnxruntime-cuda", "onnxruntime", "torch")
STAGES = ("preprocessing", "tile_crop", "satellite_encoder", "ground_branch", "orientation", "postprocessing")
DEFAULT_LATLON = (47.3769, 8.5417)  # where the synthetic benchmark pyramid is placed


def percentiles(samples_ms) -> dict:
    a = np.asarray(samples_ms, dtype=np.float64)
    return {"p50": float(np.percentile(a, 50)), "p90": float(np.percentile(a, 90)),
            "p99": float(np.percentile(a, 99)), "mean": float(a.mean()), "n": int(a.size)}


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB: VmHWM on Linux (ru_maxrss survives exec, so a spawned
    worker would report its parent's peak), else ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024.0


# --- tiles -------------------------------------------------------------------------------------------
def tiles_from_world(path: Path) -> tuple[str, float, float]:
    """(tile spec, lat, lon) of a synthetic world folder (world.json) or a tile folder / .mbtiles file."""
    world = path / "world.json"
    if world.is_file():
        info = json.loads(world.read_text())
        tiles = path / info.get("tiles", {}).get("dir", "tiles")
        return str(tiles), float(info["origin_lat"]), float(info["origin_lon"])
    return str(path), math.nan, math.nan


def write_synthetic_pyramid(out_dir: Path, meters_per_pixel: float, size_px: int = 1536,
                            lat_lon: tuple[float, float] = DEFAULT_LATLON, seed: int = 0) -> str:
    """A textured raster turned into an XYZ pyramid at the zoom matching ``meters_per_pixel``."""
    from geodistill_ros.tiles.pyramid import write_tile_pyramid

    rng = np.random.default_rng(seed)
    image = cv2.resize(rng.integers(0, 256, (size_px // 16, size_px // 16, 3), dtype=np.uint8), (size_px, size_px),
                       interpolation=cv2.INTER_CUBIC)
    zoom = geometry.zoom_for_resolution(meters_per_pixel, lat_lon[0])
    write_tile_pyramid(image, lat_lon[0], lat_lon[1], meters_per_pixel, out_dir, [zoom], save_mosaic=False)
    return str(out_dir)


# --- one frame, stage by stage -----------------------------------------------------------------------
def to_nchw(image_hwc: np.ndarray) -> np.ndarray:
    """uint8 or float ``[H, W, C]`` -> float32 ``[1, C, H, W]`` in [0, 1]."""
    scale = 1.0 / 255.0 if image_hwc.dtype == np.uint8 else 1.0
    return np.ascontiguousarray(np.transpose(image_hwc, (2, 0, 1))[None], dtype=np.float32) * np.float32(scale)


def preprocess_ground(panorama: np.ndarray, yaw_rad: float, meta: dict) -> tuple[np.ndarray, np.ndarray]:
    from geodistill_ros.camera import PanoramaCamera, ground_canvas

    camera = PanoramaCamera(width=panorama.shape[1], height=panorama.shape[0])
    canvas, mask = ground_canvas(panorama, camera, yaw_rad, (meta["ground_height_px"], meta["ground_width_px"]))
    return to_nchw(canvas), np.ascontiguousarray(mask[None, None], dtype=np.float32)


def orientation_patch(sat_rgb: np.ndarray, row_px: float, col_px: float, size_px: int) -> np.ndarray:
    """``size_px`` square of the satellite patch centred on the continuous pixel (row, col)."""
    patch = cv2.getRectSubPix(sat_rgb, (size_px, size_px), (col_px - 0.5, row_px - 0.5))
    return to_nchw(patch)


def yaw_correction_deg(yaw_logits: np.ndarray, bins: int, range_deg: float) -> float:
    """Expected yaw correction over a window of 5 bins about the most likely one (contract bin centres)."""
    logits = np.asarray(yaw_logits, dtype=np.float64).reshape(-1)
    centres = -range_deg / 2.0 + (np.arange(bins) + 0.5) * range_deg / bins
    k = int(np.argmax(logits))
    lo, hi = max(0, k - 2), min(bins, k + 3)
    w = np.exp(logits[lo:hi] - logits[k])
    return float((w * centres[lo:hi]).sum() / w.sum())


class _Timer:
    def __init__(self):
        self.samples: dict[str, list[float]] = {}

    def add(self, stage: str, t0: float) -> float:
        t1 = time.perf_counter()
        self.samples.setdefault(stage, []).append((t1 - t0) * 1e3)
        return t1


def bench_backend(model_dir: str, backend: str, threads: int | None, frames: int, new_tiles: int, warmup: int,
                  tile_spec: str, lat: float, lon: float, seed: int = 0) -> dict:
    """Time one backend (meant to run in a fresh process); returns its JSON entry."""
    from geodistill_ros.inference import load_model
    from geodistill_ros.posterior import posterior_from_logits, prob_origin_rc
    from geodistill_ros.tiles import open_tile_source

    t_load = time.perf_counter()
    try:
        model = load_model(model_dir, backend=backend, threads=threads)
    except InferenceError as exc:
        return {"available": False, "reason": str(exc)}
    load_s = time.perf_counter() - t_load
    meta = model.meta
    side, mpp = meta["search_size_px"], meta["meters_per_pixel"]
    ori = meta.get("orientation")
    rng = np.random.default_rng(seed)
    panorama = rng.integers(0, 256, (512, 1024, 3), dtype=np.uint8)
    source = open_tile_source(tile_spec, offline=True)
    metres_per_deg = 111_320.0

    def new_tile(timer: _Timer | None):
        t0 = time.perf_counter()
        d_lat, d_lon = rng.uniform(-20.0, 20.0, 2) / metres_per_deg
        crop = source.crop(lat + d_lat, lon + d_lon / math.cos(math.radians(lat)), side, mpp)
        sat = to_nchw(crop.image)
        t1 = timer.add("tile_crop", t0) if timer else t0
        feats = model.encode_satellite(sat)
        if timer:
            timer.add("satellite_encoder", t1)
        return crop.image, feats

    def frame(sat_rgb, feats, timer: _Timer | None):
        t0 = time.perf_counter()
        ground, mask = preprocess_ground(panorama, float(rng.uniform(-math.pi, math.pi)), meta)
        t = timer.add("preprocessing", t0) if timer else t0
        out = model.match(ground, mask, feats)
        t = timer.add("ground_branch", t) if timer else t
        post = posterior_from_logits(out["logits"], meta.get("posterior_temperature", 1.0), prob_origin_rc(meta),
                                     meta["prob_stride_px"], mpp, sat_rgb.shape[0])
        t = timer.add("postprocessing", t) if timer else t
        if ori:
            sat_o = orientation_patch(sat_rgb, post.row_px, post.col_px, ori["sat_size_px"])
            yaw_logits = model.orientation(sat_o, ground, mask)
            t = timer.add("orientation", t) if timer else t
            yaw_correction_deg(yaw_logits, ori["bins"], ori["range_deg"])
            t = timer.add("postprocessing", t) if timer else t
        return post

    sat_rgb, feats = new_tile(None)
    for _ in range(warmup):
        frame(sat_rgb, feats, None)
    cached = _Timer()
    e2e, e2e_cpu = [], []
    t_start = time.perf_counter()
    for _ in range(frames):
        t0, c0 = time.perf_counter(), time.process_time()
        frame(sat_rgb, feats, cached)
        e2e.append((time.perf_counter() - t0) * 1e3)
        e2e_cpu.append((time.process_time() - c0) * 1e3)
    loop_s = time.perf_counter() - t_start
    tiled = _Timer()
    new_tile_ms = []
    for _ in range(new_tiles):
        t0 = time.perf_counter()
        sat_rgb, feats = new_tile(tiled)
        frame(sat_rgb, feats, None)
        new_tile_ms.append((time.perf_counter() - t0) * 1e3)
    stages = {name: percentiles(v) for name, v in {**cached.samples, **tiled.samples}.items()}
    # postprocessing is timed in two parts per frame (posterior, yaw); report it per frame
    if "postprocessing" in cached.samples and ori:
        parts = np.asarray(cached.samples["postprocessing"]).reshape(frames, 2).sum(axis=1)
        stages["postprocessing"] = percentiles(parts)
    result = {
        "available": True,
        "backend_name": model.backend_name,
        "fallback_reasons": model.fallback_reasons,
        "end_to_end_ms": percentiles(e2e),
        # CPU time of this process per frame (all its threads): what the frame costs on an idle machine when
        # other processes inflate the wall-clock figures.
        "end_to_end_cpu_ms": percentiles(e2e_cpu),
        "new_tile_ms": percentiles(new_tile_ms) if new_tile_ms else None,
        "stages": {name: stages[name] for name in STAGES if name in stages},
        "fps": frames / loop_s,
        "load_s": load_s,
        "peak_rss_mb": peak_rss_mb(),
    }
    model.close()
    source.close()
    return result


def _run_isolated(fn, *args):
    """Run ``fn(*args)`` in a fresh spawned process (its own peak RSS, no library state shared)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def print_table(report: dict) -> None:
    cols = ("preprocessing", "tile_crop", "satellite_encoder", "ground_branch", "orientation", "postprocessing")
    short = ("prep", "crop", "sat_enc", "ground", "orient", "post")
    print(f"{'backend':<18}{'e2e p50':>9}{'p90':>7}{'p99':>7}{'cpu p50':>8}{'new tile':>9}{'fps':>7}{'RSS MB':>8}  "
          + " ".join(f"{s:>7}" for s in short) + "   (ms, stage p50)")
    for name, r in report["backends"].items():
        if not r.get("available"):
            print(f"{name:<18}unavailable: {r.get('reason', '').splitlines()[0][:90]}")
            continue
        e2e, new = r["end_to_end_ms"], r["new_tile_ms"] or {"p50": math.nan}
        stages = " ".join(f"{r['stages'][c]['p50']:7.2f}" if c in r["stages"] else f"{'-':>7}" for c in cols)
        print(f"{r['backend_name']:<18}{e2e['p50']:9.2f}{e2e['p90']:7.2f}{e2e['p99']:7.2f}"
              f"{r['end_to_end_cpu_ms']['p50']:8.2f}{new['p50']:9.2f}"
              f"{r['fps']:7.1f}{r['peak_rss_mb']:8.0f}  {stages}")
    machine = report["machine"]
    print(f"{machine['cpu_count']} CPUs, 1-min load average {machine['load_avg_1m_before']:.1f} before / "
          f"{machine['load_avg_1m_after']:.1f} after")
    for name, ratio in report.get("speedup_vs_torch", {}).items():
        print(f"{name} vs torch (end-to-end p50): {ratio:.2f}x faster")


def run_bench(model_dir: Path, backends, threads: int | None, frames: int, new_tiles: int, warmup: int,
              tiles: Path | None, lat: float | None, lon: float | None, isolate: bool = True) -> dict:
    from geodistill_ros.inference.model_files import read_model_json

    meta = read_model_json(model_dir)
    load_before = os.getloadavg()[0]  # other processes on the machine inflate every figure
    with tempfile.TemporaryDirectory(prefix="geodistill_bench_") as tmp:
        if tiles is not None:
            spec, w_lat, w_lon = tiles_from_world(Path(tiles))
            lat, lon = (lat if lat is not None else w_lat), (lon if lon is not None else w_lon)
            if not (math.isfinite(lat) and math.isfinite(lon)):
                raise ValueError("--tiles is not a world folder: give --lat and --lon inside its coverage")
            tile_source = spec
        else:
            lat, lon = DEFAULT_LATLON
            spec = write_synthetic_pyramid(Path(tmp) / "tiles", meta["meters_per_pixel"], lat_lon=(lat, lon))
            tile_source = "synthetic pyramid (temporary folder, in-memory tile cache)"
        results = {}
        for backend in backends:
            args = (str(model_dir), backend, threads, frames, new_tiles, warmup, spec, lat, lon)
            results[backend] = _run_isolated(bench_backend, *args) if isolate else bench_backend(*args)
    report = {
        "model": str(model_dir),
        "config_hash": meta["config_hash"],
        "search_size_px": meta["search_size_px"],
        "ground_hw_px": [meta["ground_height_px"], meta["ground_width_px"]],
        "frames": frames,
        "new_tiles": new_tiles,
        "threads": threads,
        "tile_source": tile_source,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_avg_1m_before": load_before, "load_avg_1m_after": os.getloadavg()[0]},
        "backends": results,
    }
    torch_entry = results.get("torch")
    if torch_entry and torch_entry.get("available"):
        t = torch_entry["end_to_end_ms"]["p50"]
        report["speedup_vs_torch"] = {n: t / r["end_to_end_ms"]["p50"] for n, r in results.items()
                                      if n != "torch" and r.get("available")}
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR, help="model folder (model.json + graphs)")
    parser.add_argument("--backends", nargs="+", default=list(DEFAULT_BACKENDS),
                        help=f"backends to time (default: {' '.join(DEFAULT_BACKENDS)}; unavailable ones are "
                             "reported and skipped)")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON report here")
    parser.add_argument("--tiles", type=Path, default=None,
                        help="synthetic world folder (or tile folder / .mbtiles with --lat/--lon) to crop from")
    parser.add_argument("--lat", type=float, default=None)
    parser.add_argument("--lon", type=float, default=None)
    parser.add_argument("--frames", type=int, default=100, help="frames with a cached satellite tile")
    parser.add_argument("--new-tiles", type=int, default=20, help="frames that each need a new tile")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads per backend (default: library's)")
    parser.add_argument("--in-process", action="store_true",
                        help="run every backend in this process (peak RSS then accumulates)")


def run(args: argparse.Namespace) -> int:
    from geodistill_ros.inference.loader import BACKENDS

    unknown = [b for b in args.backends if b not in BACKENDS or b == "auto"]
    if unknown:
        print(f"error: unknown backends {unknown}; choose from {', '.join(b for b in BACKENDS if b != 'auto')}")
        return 2
    if args.frames < 1 or args.new_tiles < 0:
        print("error: --frames must be >= 1 and --new-tiles >= 0")
        return 2
    try:
        report = run_bench(args.model, args.backends, args.threads, args.frames, args.new_tiles, args.warmup,
                           args.tiles, args.lat, args.lon, isolate=not args.in_process)
    except (InferenceError, ValueError, OSError) as exc:
        print(f"error: {exc}")
        return 1
    print_table(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0 if any(r.get("available") for r in report["backends"].values()) else 1


def main() -> int:
    parser = argparse.ArgumentParser(prog="geodistill bench", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
