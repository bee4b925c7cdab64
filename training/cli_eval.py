"""``geodistill eval --checkpoint PATH --data ROOT [--split test] --fov 360 180 90 --out metrics.json``.

Writes ``{"fov": {"360": {...}, "180": {...}, "90": {...}}, "posterior_temperature": T, ...}`` with the
metrics of :data:`training.evaluate.METRIC_KEYS`, an error-CDF plot and probability-map overlays next to
the JSON. The posterior temperature is fitted first on held-out data (``--calib-data``/``--calib-split``,
default: the same root's ``val`` split) by minimising the Gaussian NLL, and stored in the checkpoint
(``posterior_temperature``) unless ``--no-store``. Before it, the localizer's constant position offset is
measured on the same held-out data without labels (``training.offset_calibration``: the half-turn symmetry),
stored as ``position_offset_rc_px`` beside the temperature, and applied to every estimate; ``--offset ROW COL``
uses given pixels instead, ``--no-offset`` none. ``by_city`` holds the same metrics for each city (world) of the
test data on its own.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="localizer checkpoint (weak.pt / student.pt)")
    parser.add_argument("--data", required=True, help="VIGOR-layout dataset root")
    parser.add_argument("--split", default="test")
    parser.add_argument("--fov", type=float, nargs="+", default=[360.0, 180.0, 90.0],
                        help="query FoVs in degrees: 360 panorama, >=180 sector, <180 pinhole")
    parser.add_argument("--out", required=True, help="metrics JSON path")
    parser.add_argument("--orientation", default=None, help="orientation checkpoint for the yaw metrics")
    parser.add_argument("--calib-data", default=None, help="held-out data for the temperature fit (default --data)")
    parser.add_argument("--calib-split", default="val")
    parser.add_argument("--calib-samples", type=int, default=120)
    parser.add_argument("--temperature", type=float, default=None, help="use this posterior temperature, no fit")
    offset = parser.add_mutually_exclusive_group()
    offset.add_argument("--offset", type=float, nargs=2, default=None, metavar=("ROW", "COL"),
                        help="use this position offset (satellite pixels, subtracted from estimates), no fit")
    offset.add_argument("--no-offset", action="store_true", help="apply no position offset")
    parser.add_argument("--offset-samples", type=int, default=200,
                        help="held-out pairs for the label-free offset calibration")
    parser.add_argument("--max-samples", type=int, default=None)
    photo = parser.add_argument_group("photometric level (parameter-free; docs/TRAINING_RESULTS.md, session 8)")
    photo.add_argument("--photometric-weight", type=float, default=None,
                       help="evaluate the model with its raw-pixel level at this weight (0: off); stored in the "
                            "checkpoint with the calibration unless --no-store")
    photo.add_argument("--photometric-stride", type=int, default=None)
    photo.add_argument("--photometric-fraction", type=float, default=None, help="its BEV template width fraction")
    parser.add_argument("--vigor-mode", default="same", choices=("same", "cross"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--no-store", action="store_true",
                        help="do not write the temperature and offset into the checkpoint")
    parser.add_argument("--level-attitude", action="store_true",
                        help="level each test panorama by its recorded attitude (<city>/attitude.json), as the "
                        "Localizer does with an IMU's roll and pitch")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (logs, background runs)")


def run(args) -> int:
    from training.checkpoint import load_raw
    from training.datasets.vigor import DatasetError, VigorDataset, require_surveyed
    from training.evaluate import collect, fit_temperature, metrics, metrics_by_city, plot_results
    from training.models import canvas_mismatch, load_checkpoint, model_meta, with_photometric
    from training.offset_calibration import calibrate_offset

    if args.threads:
        torch.set_num_threads(args.threads)
    bundle = load_checkpoint(args.checkpoint)
    if "localizer" not in bundle:
        print(f"{args.checkpoint} is not a localizer checkpoint", file=sys.stderr)
        return 2
    loc = bundle["localizer"]
    meta = bundle["meta"]
    photometric = {k: v for k, v in (("photometric_weight", args.photometric_weight),
                                     ("photometric_stride", args.photometric_stride),
                                     ("photometric_template_fraction", args.photometric_fraction)) if v is not None}
    if photometric:
        try:
            loc = with_photometric(loc, **photometric)
        except ValueError as e:
            print(f"photometric level: {e}", file=sys.stderr)
            return 2
        meta.update(model_meta(loc))
    orientation = None
    if args.orientation:
        ob = load_checkpoint(args.orientation)
        if "orientation" not in ob:
            print(f"{args.orientation} is not an orientation checkpoint", file=sys.stderr)
            return 2
        why = canvas_mismatch(model_meta(loc), model_meta(ob["orientation"]))
        if why:
            print(f"{args.orientation}: {why}", file=sys.stderr)
            return 2
        orientation = ob["orientation"]

    def dataset(root, split, level=False):
        c = loc.cfg
        return VigorDataset(root, split=split, mode=args.vigor_mode, sat_size_px=c.sat_size_px,
                            meters_per_pixel=c.meters_per_pixel, canvas_hw=(c.ground_height_px, c.ground_width_px),
                            level_attitude=level)

    t0 = time.time()
    try:
        test = dataset(args.data, args.split, level=args.level_attitude)
        require_surveyed(test, "evaluation")
        calib = None
        offset = {"offset_rc_px": [0.0, 0.0] if args.no_offset else args.offset, "source": "given"}
        if args.offset is None and not args.no_offset:
            calib = dataset(args.calib_data or args.data, args.calib_split)
            try:
                found = calibrate_offset(loc, calib, args.offset_samples, progress=not args.no_progress)
                offset = {**found, "source": "half-turn calibration"}
            except ValueError as e:
                print(f"offset calibration failed: {e} (use --no-offset or --offset ROW COL)", file=sys.stderr)
                return 2
            print(f"position offset {offset['offset_rc_px'][0]:+.2f}, {offset['offset_rc_px'][1]:+.2f} px (row, col) "
                  f"from {offset['n_used']} of {offset['n_total']} pairs")
        meta["position_offset_rc_px"] = [float(v) for v in offset["offset_rc_px"]]
        temperature = args.temperature
        if temperature is None:
            calib = calib or dataset(args.calib_data or args.data, args.calib_split)
            require_surveyed(calib, "the temperature fit (or pass --temperature)")
            cal = collect(loc, calib, args.fov, None, args.calib_samples, seed=args.seed + 1, meta=meta,
                          progress=not args.no_progress)
            logits = [x for d in cal.values() for x in d["logits"]]
            gts = [x for d in cal.values() for x in d["gt"]]
            temperature = fit_temperature(logits, gts, meta)
    except DatasetError as e:
        print(f"dataset error: {e}", file=sys.stderr)
        return 2
    col = collect(loc, test, args.fov, orientation, args.max_samples, seed=args.seed, meta=meta,
                  progress=not args.no_progress)
    result = {"fov": {k: metrics(d["logits"], d["gt"], d["yaw_err"], temperature, meta) for k, d in col.items()},
              "posterior_temperature": temperature, "model_temperature": loc.temperature,
              "position_offset_rc_px": meta["position_offset_rc_px"], "position_offset": offset,
              "checkpoint": str(args.checkpoint), "orientation": args.orientation, "data": str(args.data),
              "split": args.split, "level_attitude": bool(args.level_attitude),
              "calibration": {"data": str(args.calib_data or args.data), "split": args.calib_split,
                              "samples": args.calib_samples},
              "by_city": metrics_by_city(col, temperature, meta), "seconds": time.time() - t0,
              "photometric": {"weight": loc.cfg.photometric_weight, "stride": loc.cfg.photometric_stride,
                              "template_fraction": loc.cfg.photometric_template_fraction}}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not args.no_plots:
        prefix = str(out.with_suffix(""))
        result["plots"] = plot_results(col, temperature, meta, prefix)
    out.write_text(json.dumps(result, indent=2))
    calibrated = {}
    if args.temperature is None:
        calibrated["posterior_temperature"] = temperature
    if offset["source"] != "given":
        calibrated["position_offset_rc_px"] = meta["position_offset_rc_px"]
    if (calibrated or photometric) and not args.no_store:
        state = load_raw(args.checkpoint)
        state.update(calibrated)
        if photometric:  # the calibration belongs to the model with this level: keep them together
            state["model_args"]["model"].update(photometric)
        torch.save(state, args.checkpoint)
    for k, m in result["fov"].items():
        yaw = f"{m['yaw_median_deg']:.2f}" if m["yaw_median_deg"] is not None else "-"
        print(f"FoV {k:>3}: mean {m['mean_m']:.2f} m  median {m['median_m']:.2f} m  R@1m {m['recall_1m']:.3f}  "
              f"R@3m {m['recall_3m']:.3f}  yaw med {yaw}  in95 {m['in_95_ellipse']:.3f}  nll {m['nll']:.2f}  "
              f"n {m['n']}")
    if len(result["by_city"]) > 1:
        for city, per_fov in result["by_city"].items():
            print(f"  {city}: " + "  ".join(f"FoV {k} median {m['median_m']:.2f} m R@1m {m['recall_1m']:.3f}"
                                           for k, m in per_fov.items()))
    print(f"posterior_temperature {temperature:.4f}; wrote {out}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="geodistill eval", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
