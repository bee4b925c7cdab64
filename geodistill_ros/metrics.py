"""Localization metrics as pure numpy functions (used by ``geodistill eval-bag`` and the demo).

Conventions: positions are ENU metres ``[N, 2]`` (east, north) in the map frame, yaw in radians (CCW from
east), covariances ``[N, 2, 2]`` in m^2 (east/north), times in ns.

Definitions (:func:`summarize`):
- position error: Euclidean distance between estimate and truth; ``mean_m``, ``median_m``, ``rmse_m``
  over the frames that have an estimate (``localized``);
- ``recall_{1,3,5}m``: share of *all* frames (``frames``) with an estimate within 1/3/5 m — a frame that
  was not localized counts as a miss;
- yaw error: absolute wrapped difference in degrees (``yaw_mean_deg``, ``yaw_median_deg``);
- NEES: ``e^T C^-1 e`` of each error under its covariance (2 dof: 2 on average when calibrated);
  ``in_95_ellipse``: share of errors inside the 95% ellipse (``NEES <= chi2_2(0.95) = -2 ln 0.05``);
- latency: seconds from the frame to its estimate (mean / median / 95th percentile, reported in ms).
"""

from __future__ import annotations

import numpy as np

from geodistill_ros.geometry import wrap_angle
from geodistill_ros.posterior import CHI2_2DOF_95, mahalanobis2

RECALL_RADII_M = (1.0, 3.0, 5.0)


def position_errors_m(est_en, truth_en) -> np.ndarray:
    """Euclidean distance ``[N]`` between estimates and truth (both ``[N, 2]`` ENU metres)."""
    est_en, truth_en = np.asarray(est_en, np.float64), np.asarray(truth_en, np.float64)
    if est_en.shape != truth_en.shape or est_en.ndim != 2 or est_en.shape[1] != 2:
        raise ValueError(f"expected two [N, 2] arrays, got {est_en.shape} and {truth_en.shape}")
    return np.hypot(*(est_en - truth_en).T)


def yaw_errors_deg(est_yaw_rad, truth_yaw_rad) -> np.ndarray:
    """Absolute wrapped yaw difference in degrees, in ``[0, 180]``."""
    return np.abs(np.degrees(wrap_angle(np.asarray(est_yaw_rad) - np.asarray(truth_yaw_rad))))


def nees(err_en, cov_en_m2) -> np.ndarray:
    """Normalized estimation error squared ``e^T C^-1 e`` per sample (NaN where C is missing or singular)."""
    err = np.asarray(err_en, np.float64)
    cov = np.asarray(cov_en_m2, np.float64)
    if cov.shape != (len(err), 2, 2):
        raise ValueError(f"expected covariances [N, 2, 2] for N={len(err)}, got {cov.shape}")
    out = np.full(len(err), np.nan)
    det = cov[:, 0, 0] * cov[:, 1, 1] - cov[:, 0, 1] * cov[:, 1, 0]
    ok = np.isfinite(det) & (det > 1e-18) & np.all(np.isfinite(err), axis=1)
    if ok.any():
        out[ok] = mahalanobis2(err[ok], cov[ok])
    return out


def interpolate_pose(query_ns, stamps_ns, east_m, north_m, yaw_rad, max_gap_s: float = 1.0):
    """Linear interpolation of a trajectory (yaw unwrapped) at ``query_ns``.

    Returns ``(en [Q, 2], yaw [Q], valid [Q])``: a query outside the trajectory's time span, or between two
    samples more than ``max_gap_s`` apart, is not valid (its values are NaN).
    """
    q = np.asarray(query_ns, dtype=np.int64)
    t = np.asarray(stamps_ns, dtype=np.int64)
    if len(t) == 0:
        return np.full((len(q), 2), np.nan), np.full(len(q), np.nan), np.zeros(len(q), bool)
    order = np.argsort(t, kind="stable")
    t = t[order]
    east, north = np.asarray(east_m, np.float64)[order], np.asarray(north_m, np.float64)[order]
    yaw = np.unwrap(np.asarray(yaw_rad, np.float64)[order])
    # interpolate in float seconds relative to the first sample (ns since epoch lose precision as float64)
    ts, qs = (t - t[0]) / 1e9, (q - t[0]) / 1e9
    valid = (q >= t[0]) & (q <= t[-1])
    idx = np.clip(np.searchsorted(t, q, side="right"), 1, max(len(t) - 1, 1))
    if len(t) > 1:
        gap = ts[idx] - ts[idx - 1]
        exact = np.isin(q, t)
        valid &= (gap <= max_gap_s) | exact
    en = np.stack([np.interp(qs, ts, east), np.interp(qs, ts, north)], axis=1)
    yaw_q = wrap_angle(np.interp(qs, ts, yaw))
    en[~valid] = np.nan
    yaw_q = np.where(valid, yaw_q, np.nan)
    return en, yaw_q, valid


def latest_before(query_ns, stamps_ns) -> np.ndarray:
    """Index of the latest sample at or before each query (the first sample for queries before it)."""
    t = np.asarray(stamps_ns, dtype=np.int64)
    if len(t) == 0:
        raise ValueError("no samples")
    if np.any(np.diff(t) < 0):
        raise ValueError("stamps must be sorted")
    return np.clip(np.searchsorted(t, np.asarray(query_ns, np.int64), side="right") - 1, 0, len(t) - 1)


def _stat(values, fn) -> float | None:
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    return float(fn(v)) if len(v) else None


def summarize(errors_m, frames: int, yaw_err_deg=None, nees_values=None, latency_s=None) -> dict:
    """Figures of one estimator over a sequence (see the module docstring for the definitions).

    ``errors_m``: position errors of the localized frames; ``frames``: number of frames in the sequence.
    Values that cannot be computed (no samples, no covariance) are ``None``.
    """
    err = np.asarray(errors_m, np.float64)
    if frames < len(err):
        raise ValueError(f"{len(err)} estimates for {frames} frames")
    out: dict = {"frames": int(frames), "localized": int(len(err)),
                 "localized_share": float(len(err) / frames) if frames else None}
    out["mean_m"] = _stat(err, np.mean)
    out["median_m"] = _stat(err, np.median)
    out["rmse_m"] = _stat(err, lambda v: np.sqrt(np.mean(v**2)))
    out["max_m"] = _stat(err, np.max)
    for r in RECALL_RADII_M:
        out[f"recall_{r:g}m"] = float(np.sum(err <= r) / frames) if frames else None
    yaw = np.asarray([] if yaw_err_deg is None else yaw_err_deg, np.float64)
    out["yaw_mean_deg"] = _stat(yaw, np.mean)
    out["yaw_median_deg"] = _stat(yaw, np.median)
    nv = np.asarray([] if nees_values is None else nees_values, np.float64)
    nv = nv[np.isfinite(nv)]
    out["nees_mean"] = _stat(nv, np.mean)
    out["in_95_ellipse"] = float(np.mean(nv <= CHI2_2DOF_95)) if len(nv) else None
    lat = np.asarray([] if latency_s is None else latency_s, np.float64) * 1e3
    out["latency_mean_ms"] = _stat(lat, np.mean)
    out["latency_median_ms"] = _stat(lat, np.median)
    out["latency_p95_ms"] = _stat(lat, lambda v: np.percentile(v, 95))
    return out


SUMMARY_KEYS = ("mean_m", "median_m", "rmse_m", "recall_1m", "recall_5m", "yaw_median_deg", "in_95_ellipse",
                "frames", "localized")


def short_summary(figures: dict) -> dict:
    """The demo's ``summary.json`` subset of :func:`summarize`'s figures."""
    return {k: figures.get(k) for k in SUMMARY_KEYS}
