"""``geodistill tiles``: see exactly the patch the node will see.

``geodistill tiles crop --source URL_TEMPLATE|DIR|FILE.mbtiles|FILE.tif --lat LAT --lon LON --size PX --mpp M
--out crop.png [--cache DIR] [--offline]`` writes the crop (and its validity mask with ``--mask-out``) and
prints one line; on failure it prints ``error: <reason>`` on one line and exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from .errors import TileError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="tiles_command", metavar="ACTION")
    p = sub.add_parser("crop", help="crop a north-up metric patch around a lat/lon")
    p.add_argument("--source", required=True, help="URL template, tile folder, .mbtiles or .tif")
    p.add_argument("--lat", type=float, required=True, help="centre latitude, degrees")
    p.add_argument("--lon", type=float, required=True, help="centre longitude, degrees")
    p.add_argument("--size", type=int, default=512, help="crop size in pixels (square)")
    p.add_argument("--mpp", type=float, default=0.2, help="metres per pixel of the crop")
    p.add_argument("--out", required=True, help="output image (png/jpg)")
    p.add_argument("--mask-out", default=None, help="also write the validity mask (white = imagery)")
    p.add_argument("--json-out", default=None, help="also write the crop's georeference as JSON")
    p.add_argument("--cache", default=None, help="on-disk tile cache folder (remote sources)")
    p.add_argument("--offline", action="store_true", help="never touch the network: cache only")
    p.add_argument("--user-agent", default=None, help="HTTP User-Agent")
    p.add_argument("--timeout", type=float, default=5.0, help="per-request timeout, seconds")
    p.add_argument("--zoom", type=int, default=None, help="force a zoom level instead of choosing one")
    p.add_argument("--api-key-env", default=None, help="environment variable holding the API key ({apikey})")


def _crop(args) -> int:
    from .source import open_tile_source

    options = {"api_key_env": args.api_key_env} if args.api_key_env else {}
    src = open_tile_source(args.source, cache_dir=args.cache, offline=args.offline, user_agent=args.user_agent,
                           timeout_s=args.timeout, **options)
    try:
        crop = src.crop(args.lat, args.lon, args.size, args.mpp, zoom=args.zoom)
    finally:
        src.close()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), cv2.cvtColor(crop.image, cv2.COLOR_RGB2BGR)):
        raise OSError(f"cannot write {out}")
    if args.mask_out:
        cv2.imwrite(str(args.mask_out), crop.valid_mask.astype(np.uint8) * 255)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({
            "center_lat": crop.center_lat, "center_lon": crop.center_lon, "size_px": crop.size_px,
            "meters_per_pixel": crop.meters_per_pixel, "zoom": crop.zoom, "valid_fraction": crop.valid_fraction,
            "missing_tiles": [list(m) for m in crop.missing_tiles], "source": crop.source,
            "convention": "north-up; continuous pixel (S/2, S/2) = (center_lat, center_lon); ENU about the centre",
        }, indent=1))
    zoom = f"zoom {crop.zoom}, " if crop.zoom is not None else ""
    missing = f", {len(crop.missing_tiles)} tiles missing" if crop.missing_tiles else ""
    print(f"{out}: {crop.size_px}x{crop.size_px} px at {crop.meters_per_pixel:g} m/px, {zoom}"
          f"valid {100 * crop.valid_fraction:.1f}%{missing}, centre ({crop.center_lat:.7f}, {crop.center_lon:.7f})")
    return 0


def run(args) -> int:
    if getattr(args, "tiles_command", None) != "crop":
        print("usage: geodistill tiles crop --source ... --lat ... --lon ... --out crop.png", file=sys.stderr)
        return 2
    try:
        return _crop(args)
    except TileError as exc:
        print(f"error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="geodistill tiles", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
