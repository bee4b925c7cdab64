"""Write a VIGOR-layout training / test set straight from synthetic worlds (``geodistill_ros.sim.World``).

A stop-gap twin of ``geodistill synth dataset`` tuned for CPU training: panoramas may be rendered smaller
than VIGOR's (the model sees a 128x256 canvas anyway). One city folder per world
(``<style>_s<seed>``), satellite patches 640 px at 0.1 m/px (64 m), the camera uniform in the central
half of its patch, ``splits/<city>/{train,val,test}.txt`` and ``meta.json``.

With the gap on, every panorama has the gap's ``attitude``: the camera is tilted (roll and pitch up to
``GapConfig.max_tilt_deg``) and its height is off (up to ``max_height_error_m``), as in ``geodistill synth
dataset``; ``<city>/attitude.json`` records it per panorama as the camera's REP-103 roll / pitch (forward = north,
the centre column; what an IMU would report) and height error. Training never reads it; ``geodistill eval
--level-attitude`` levels the test panoramas with it, as the runtime Localizer does with an IMU's attitude.
The draw has its own random stream, so ``--level-camera`` writes the same poses and patches with a level camera
at the nominal height (the sets of sessions 1-8 were written that way).

    python -m training.make_synth_data --out data/synth_train --worlds downtown:1 suburb:2 rural:3 \
        --per-world 250 --size-m 400
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from geodistill_ros import geometry
from geodistill_ros.sim.render import tilt_to_rep103
from training.datasets.splits import write_splits

SAT_PX, SAT_MPP = 640, 0.1


def _free_points(world, rng, n: int, margin_m: float) -> np.ndarray:
    free = world.free_space_mask()
    rows, cols = np.nonzero(free)
    size = free.shape[0]
    mpp = world.meters_per_pixel
    east, north = geometry.patch_pixel_to_enu(rows + 0.5, cols + 0.5, 0.0, 0.0, mpp, size)
    half = size * mpp / 2.0 - margin_m
    ok = (np.abs(east) < half) & (np.abs(north) < half)
    idx = rng.choice(np.nonzero(ok)[0], size=n, replace=len(np.nonzero(ok)[0]) < n)
    return np.stack([east[idx], north[idx]], axis=1)


CAMERA_HEIGHT_M = 2.0


def write_world(world, city: str, root: Path, n: int, seed: int, pano_hw: tuple[int, int], split_name: str,
                attitude: bool = True) -> int:
    """Write ``n`` pairs of one world; ``attitude=False`` keeps the camera level even when the gap tilts it."""
    rng = np.random.default_rng(seed)
    tilt_rng = np.random.default_rng([seed, 23])  # separate stream: poses do not depend on ``attitude``
    (root / city / "panorama").mkdir(parents=True, exist_ok=True)
    (root / city / "satellite").mkdir(parents=True, exist_ok=True)
    (root / "splits" / city).mkdir(parents=True, exist_ok=True)
    patch_m = SAT_PX * SAT_MPP
    cams = _free_points(world, rng, n, margin_m=patch_m)
    lines, tilts = [], {}
    for i, (e, nn) in enumerate(tqdm(cams, desc=city, leave=False)):
        roll, pitch, dh = world.gap.draw_attitude(tilt_rng)
        if not attitude:
            roll, pitch, dh = 0.0, 0.0, 0.0
        c_e = e + rng.uniform(-patch_m / 4, patch_m / 4)
        c_n = nn + rng.uniform(-patch_m / 4, patch_m / 4)
        lat, lon = world.enu_to_latlon(c_e, c_n)
        plat, plon = world.enu_to_latlon(e, nn)
        sat_name = f"satellite_{float(lat):.9f}_{float(lon):.9f}.png"
        pano_name = f"{city}_{i:05d},{float(plat):.9f},{float(plon):.9f},.jpg"
        sat = world.satellite_patch(c_e, c_n, SAT_PX, SAT_MPP)
        pano = world.render_panorama(e, nn, np.pi / 2, height=pano_hw[0], width=pano_hw[1],
                                     camera_height_m=CAMERA_HEIGHT_M + dh, roll_rad=roll, pitch_rad=pitch)
        rep_roll, rep_pitch = tilt_to_rep103(roll, pitch)  # the camera's REP-103 attitude (x forward = north)
        tilts[pano_name] = {"roll_rad": rep_roll, "pitch_rad": rep_pitch, "height_error_m": dh}
        cv2.imwrite(str(root / city / "satellite" / sat_name), cv2.cvtColor(sat, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(root / city / "panorama" / pano_name), cv2.cvtColor(pano, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 92])
        row, col = geometry.enu_to_patch_pixel(e, nn, c_e, c_n, SAT_MPP, SAT_PX)
        d_n, d_e = geometry.pixel_to_vigor_offsets(row, col, SAT_PX)
        lines.append(f"{pano_name} {sat_name} {float(d_n):.4f} {float(d_e):.4f}")
    (root / city / "attitude.json").write_text(json.dumps(tilts, indent=1))
    split = root / "splits" / city
    if split_name == "train":
        n_val = max(1, n // 20)
        write_splits(split, lines[:-n_val], lines[-n_val:])
    else:
        write_splits(split, lines, lines)
    return len(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True)
    parser.add_argument("--worlds", nargs="+", required=True, help="style:seed entries, e.g. downtown:1 rural:2")
    parser.add_argument("--per-world", type=int, default=200)
    parser.add_argument("--size-m", type=float, default=400.0)
    parser.add_argument("--pano", type=int, nargs=2, default=(256, 512), metavar=("H", "W"))
    parser.add_argument("--split", choices=("train", "test"), default="train",
                        help="train: hold out 5%% as val; test: every sample in every split file")
    parser.add_argument("--no-gap", action="store_true", help="satellite time == ground time (no domain gap)")
    parser.add_argument("--level-camera", action="store_true",
                        help="keep the camera level at the nominal height even with the gap on (the old sets)")


def run(args) -> int:
    from geodistill_ros.sim import World

    root = Path(args.out)
    root.mkdir(parents=True, exist_ok=True)
    t0, total, worlds = time.time(), 0, []
    for item in args.worlds:
        style, seed = item.split(":")
        world = World.generate(seed=int(seed), style=style, size_m=args.size_m, gap=not args.no_gap)
        city = f"{style}_s{seed}"
        total += write_world(world, city, root, args.per_world, int(seed) * 7919 + 17, tuple(args.pano), args.split,
                             attitude=not args.level_camera)
        worlds.append({"city": city, "style": style, "seed": int(seed)})
    tilted = not args.no_gap and not args.level_camera
    meta = {"meters_per_pixel": SAT_MPP, "satellite_size_px": SAT_PX, "worlds": worlds, "size_m": args.size_m,
            "gap": not args.no_gap, "attitude": tilted, "camera_height_m": CAMERA_HEIGHT_M,
            "panorama_hw": list(args.pano), "samples": total}
    (root / "meta.json").write_text(json.dumps(meta, indent=2))
    print(f"wrote {total} pairs to {root} in {time.time() - t0:.0f} s")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
