"""The evaluation report page: trajectory over the satellite map (truth, GPS prior, ours with 95% covariance
ellipses), position error over time, error CDF and yaw error, as ``report.png`` inside a self-contained
``report.html`` with the figures table.  Used by :mod:`geodistill_ros.evaluation`."""

from __future__ import annotations

import base64
import html
import logging
import math
from pathlib import Path

import numpy as np

from geodistill_ros import geometry, metrics

LOG = logging.getLogger("geodistill.eval")

MAX_MAP_PX = 2048
MAX_ELLIPSES = 60
COLORS = {"truth": "#111111", "gps": "#d62728", "ours": "#1f77b4"}

ROWS = [  # (key, label, format)
    ("mean_m", "mean error", "{:.2f} m"), ("median_m", "median error", "{:.2f} m"), ("rmse_m", "RMSE", "{:.2f} m"),
    ("max_m", "max error", "{:.2f} m"), ("recall_1m", "within 1 m", "{:.1%}"), ("recall_3m", "within 3 m", "{:.1%}"),
    ("recall_5m", "within 5 m", "{:.1%}"), ("yaw_mean_deg", "yaw error, mean", "{:.2f}°"),
    ("yaw_median_deg", "yaw error, median", "{:.2f}°"), ("nees_mean", "NEES, mean (2 if calibrated)", "{:.2f}"),
    ("in_95_ellipse", "inside the 95% ellipse", "{:.1%}"), ("localized", "frames localized", "{}"),
    ("frames", "frames", "{}"), ("latency_median_ms", "latency, median", "{:.1f} ms"),
    ("latency_p95_ms", "latency, 95th percentile", "{:.1f} ms"),
]


def map_background(tiles: str | None, datum, east_range, north_range, margin_m: float = 15.0):
    """``(image, extent)`` of the satellite imagery under the given ENU box (``None`` when unavailable)."""
    if not tiles:
        return None
    from geodistill_ros.tiles import TileError, open_tile_source

    e0, e1 = east_range[0] - margin_m, east_range[1] + margin_m
    n0, n1 = north_range[0] - margin_m, north_range[1] + margin_m
    ce, cn = (e0 + e1) / 2.0, (n0 + n1) / 2.0
    span = max(e1 - e0, n1 - n0, 1.0)
    mpp = max(0.1, span / MAX_MAP_PX)
    size = int(math.ceil(span / mpp / 2.0)) * 2
    lat, lon, _ = geometry.enu_to_geodetic(ce, cn, 0.0, datum[0], datum[1])
    try:
        with open_tile_source(str(tiles), offline=True) as source:
            crop = source.crop(float(lat), float(lon), size, mpp)
    except (TileError, OSError, ValueError) as exc:
        LOG.warning("no satellite background from %s: %s", tiles, exc)
        return None
    half = size * mpp / 2.0
    return np.asarray(crop.image), (ce - half, ce + half, cn - half, cn + half)


def _ellipse_patches(track, n_sigma: float, every: int):
    from matplotlib.patches import Ellipse

    patches = []
    for i in range(0, len(track), every):
        cov = track.cov[i]
        if not np.all(np.isfinite(cov)):
            continue
        a, b, angle = geometry.covariance_ellipse(cov, n_sigma)
        patches.append(Ellipse(tuple(track.en[i]), 2 * a, 2 * b, angle=math.degrees(angle), fill=False,
                               lw=0.8, ec=COLORS["ours"], alpha=0.8))
    return patches


def plot_report(path: Path, result: dict, ours, gps, sensors, tiles: str | None = None) -> Path:
    """Draw the four panels into ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    truth = sensors.truth
    fig = plt.figure(figsize=(14, 10), dpi=100)
    grid = fig.add_gridspec(3, 2, width_ratios=[1.25, 1.0])
    ax_map = fig.add_subplot(grid[:, 0])
    ax_err, ax_cdf, ax_yaw = (fig.add_subplot(grid[i, 1]) for i in range(3))

    pts = np.concatenate([truth.en, gps.track.en, ours.track.en]) if len(ours.track) else np.concatenate(
        [truth.en, gps.track.en])
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    bg = map_background(tiles, sensors.datum, (pts[:, 0].min(), pts[:, 0].max()), (pts[:, 1].min(), pts[:, 1].max()))
    if bg is not None:
        ax_map.imshow(bg[0], extent=bg[1], origin="upper", interpolation="bilinear")
    ax_map.plot(truth.en[:, 0], truth.en[:, 1], "-", color=COLORS["truth"], lw=1.5, label="ground truth")
    ax_map.plot(gps.track.en[:, 0], gps.track.en[:, 1], ".", color=COLORS["gps"], ms=4, label="GPS prior")
    if len(ours.track):
        ax_map.plot(ours.track.en[:, 0], ours.track.en[:, 1], ".", color=COLORS["ours"], ms=4, label="geodistill")
        every = max(1, len(ours.track) // MAX_ELLIPSES)
        for patch in _ellipse_patches(ours.track, math.sqrt(metrics.CHI2_2DOF_95), every):
            ax_map.add_patch(patch)
    if bg is not None:
        ax_map.set_xlim(bg[1][0], bg[1][1])
        ax_map.set_ylim(bg[1][2], bg[1][3])
    ax_map.set_aspect("equal")
    ax_map.set_xlabel("east (m)")
    ax_map.set_ylabel("north (m)")
    ax_map.set_title("trajectory (ellipses: 95% covariance)")
    ax_map.legend(loc="best", fontsize=8)

    t0 = sensors.frames_ns[0]
    for scored, name, key in ((gps, "GPS prior", "gps"), (ours, "geodistill", "ours")):
        if not len(scored.track):
            continue
        t = (scored.track.stamp_ns - t0) / 1e9
        ax_err.plot(t, scored.errors_m, ".-", color=COLORS[key], ms=3, lw=0.8, label=name)
        ax_yaw.plot(t, scored.yaw_err_deg, ".-", color=COLORS[key], ms=3, lw=0.8, label=name)
        err = np.sort(scored.errors_m)
        # CDF over all frames: frames without an estimate never reach the curve's top
        share = np.arange(0, len(err) + 1) / result["frames"]
        ax_cdf.step(np.concatenate([[0.0], err]), share, where="post", color=COLORS[key], label=name)
    ax_err.set_xlabel("time (s)")
    ax_err.set_ylabel("position error (m)")
    ax_err.set_title("position error over time")
    ax_cdf.set_xlabel("position error (m)")
    ax_cdf.set_ylabel("share of frames")
    ax_cdf.set_ylim(0, 1)
    ax_cdf.set_xlim(left=0)
    ax_cdf.set_title("error CDF")
    ax_yaw.set_xlabel("time (s)")
    ax_yaw.set_ylabel("yaw error (deg)")
    ax_yaw.set_title("yaw error over time")
    for ax in (ax_err, ax_cdf, ax_yaw):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(result.get("title") or "evaluation")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _fmt(value, fmt: str) -> str:
    return "–" if value is None else fmt.format(value)


def render_html(result: dict, png_path: Path) -> str:
    """A self-contained page: the figures table and the plots (embedded PNG)."""
    png = base64.b64encode(png_path.read_bytes()).decode("ascii")
    ours, gps = result["ours"], result["gps_prior"]
    rows = "\n".join(f"<tr><td>{html.escape(label)}</td><td>{_fmt(ours.get(k), f)}</td><td>{_fmt(gps.get(k), f)}</td>"
                     "</tr>" for k, label, f in ROWS)
    extra = {k: v for k, v in result.items() if k not in ("ours", "gps_prior", "title")}
    details = html.escape(", ".join(f"{k}: {v}" for k, v in extra.items()))
    title = html.escape(result.get("title") or "evaluation")
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>geodistill: {title}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1400px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}td:first-child{{text-align:left}}
img{{max-width:100%}}code{{background:#f4f4f4;padding:2px 4px}}</style></head>
<body><h1>geodistill evaluation: {title}</h1>
<table><tr><th></th><th>geodistill</th><th>GPS prior</th></tr>
{rows}
</table>
<p><small>{details}</small></p>
<img src="data:image/png;base64,{png}" alt="trajectory, errors and CDF">
<p>Files: <code>metrics.json</code>, <code>report.png</code>, <code>poses_bag/</code> (score it with
<code>evo_ape bag2 poses_bag /ground_truth/pose /geodistill/pose</code>).</p>
</body></html>
"""


def write_report(out_dir: Path, result: dict, ours, gps, sensors, tiles: str | None = None) -> Path:
    """``report.png`` and ``report.html`` in ``out_dir``; returns the HTML path."""
    png = plot_report(out_dir / "report.png", result, ours, gps, sensors, tiles=tiles)
    page = out_dir / "report.html"
    page.write_text(render_html(result, png), encoding="utf-8")
    return page
