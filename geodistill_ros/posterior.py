"""From the matcher's logits over satellite cells to a position estimate with a covariance (numpy only).

Shared by training evaluation and the runtime ``Localizer``, so both report the same estimate.
Cell ``(i, j)`` of a ``[Hp, Wp]`` map sits at the continuous satellite pixel
``(origin_row + i * stride, origin_col + j * stride)``; the satellite patch is north-up and its centre is the
continuous point ``(S/2, S/2)`` (see ``geometry``). The origin is ``prob_origin_px`` (half a cell) less the
model's calibrated ``position_offset_rc_px`` (:func:`prob_origin_rc`): a weakly supervised matcher learns a
constant shift that ``training.offset_calibration`` measures without labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CHI2_2DOF_95 = -2.0 * math.log(1.0 - 0.95)  # 5.991: squared Mahalanobis radius of the 95% ellipse in 2-D


@dataclass
class Posterior:
    """A position estimate inside one satellite patch."""

    row_px: float  # continuous satellite pixel of the estimate
    col_px: float
    east_m: float  # offset of the estimate from the patch centre, ENU metres
    north_m: float
    cov_en_m2: np.ndarray  # [2, 2] covariance of (east, north), m^2
    peak_prob: float  # probability mass of the best cell
    prob: np.ndarray  # [Hp, Wp] probability map (sums to 1)


def softmax2d(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Softmax over all cells of ``logits / temperature``; ``[Hp, Wp]`` -> ``[Hp, Wp]`` summing to 1."""
    if temperature <= 0 or not math.isfinite(temperature):
        raise ValueError(f"temperature must be a positive finite number, got {temperature}")
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - np.max(z)
    p = np.exp(z)
    return p / p.sum()


def parabola_offset(lo: float, mid: float, hi: float, flat_tol: float = 1e-12) -> float:
    """Offset of the vertex of the parabola through ``(-1, lo), (0, mid), (1, hi)``, clipped to ``[-0.5, 0.5]``;
    zero where the curvature ``lo - 2 mid + hi`` is not below ``-flat_tol`` (flat or a minimum)."""
    denom = lo - 2.0 * mid + hi
    if denom >= -flat_tol:
        return 0.0
    return float(np.clip(0.5 * (lo - hi) / denom, -0.5, 0.5))


def refine_peak(log_prob: np.ndarray, i: int, j: int) -> tuple[float, float]:
    """Sub-cell offset ``(di, dj)`` of the peak at cell ``(i, j)``: a parabola through the peak and its two
    neighbours along each axis (clipped to half a cell; zero at the border)."""
    h, w = log_prob.shape
    di = parabola_offset(log_prob[i - 1, j], log_prob[i, j], log_prob[i + 1, j]) if 0 < i < h - 1 else 0.0
    dj = parabola_offset(log_prob[i, j - 1], log_prob[i, j], log_prob[i, j + 1]) if 0 < j < w - 1 else 0.0
    return di, dj


def prob_origin_rc(meta: dict) -> tuple[float, float]:
    """Satellite pixel ``(row, col)`` of cell ``(0, 0)`` from model.json / checkpoint metadata:
    ``prob_origin_px`` minus ``position_offset_rc_px`` (absent: no offset)."""
    origin = float(meta["prob_origin_px"])
    offset = meta.get("position_offset_rc_px") or (0.0, 0.0)
    if len(offset) != 2 or not all(math.isfinite(float(v)) for v in offset):
        raise ValueError(f"position_offset_rc_px must be two finite numbers, got {offset!r}")
    return origin - float(offset[0]), origin - float(offset[1])


def origin_pair(origin_px) -> tuple[float, float]:
    """Cell ``(0, 0)``'s pixel as ``(row, col)`` from one number (both axes) or a ``(row, col)`` pair."""
    if np.ndim(origin_px) == 0:
        return float(origin_px), float(origin_px)
    row, col = origin_px
    return float(row), float(col)


def cell_centers_px(shape: tuple[int, int], origin_px, stride_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Continuous satellite pixel ``(rows [Hp, 1], cols [1, Wp])`` of every cell centre.

    ``origin_px``: cell ``(0, 0)``'s pixel, one number for both axes or a ``(row, col)`` pair."""
    origin_row, origin_col = origin_pair(origin_px)
    rows = origin_row + stride_px * np.arange(shape[0], dtype=np.float64)
    cols = origin_col + stride_px * np.arange(shape[1], dtype=np.float64)
    return rows[:, None], cols[None, :]


def gaussian_log_prior(shape, origin_px, stride_px, mean_rc_px, cov_rc_px2) -> np.ndarray:
    """Log-density ``[Hp, Wp]`` (up to a constant) of a Gaussian over satellite pixels ``(row, col)``."""
    rows, cols = cell_centers_px(shape, origin_px, stride_px)
    dr = rows - mean_rc_px[0]
    dc = cols - mean_rc_px[1]
    inv = np.linalg.inv(np.asarray(cov_rc_px2, dtype=np.float64))
    return -0.5 * (inv[0, 0] * dr * dr + 2.0 * inv[0, 1] * dr * dc + inv[1, 1] * dc * dc)


def posterior_from_logits(
    logits: np.ndarray,
    temperature: float,
    prob_origin_px,
    prob_stride_px: float,
    meters_per_pixel: float,
    patch_size_px: float,
    log_prior: np.ndarray | None = None,
) -> Posterior:
    """Estimate and covariance from matcher logits ``[Hp, Wp]`` (or ``[1, Hp, Wp]``).

    The estimate is the most probable cell refined to sub-cell precision; the covariance is the second moment
    of the probability map about the estimate (so a multi-modal map gives a wide covariance), plus the
    quantisation variance of one cell (``stride^2 / 12`` per axis). ``prob_origin_px`` is one number or a
    ``(row, col)`` pair (:func:`prob_origin_rc`).
    """
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim == 3 and logits.shape[0] == 1:
        logits = logits[0]
    if logits.ndim != 2 or min(logits.shape) < 1:
        raise ValueError(f"logits must be [Hp, Wp], got shape {logits.shape}")
    if not np.all(np.isfinite(logits)):
        raise ValueError("logits contain NaN or inf")
    z = logits / temperature
    if log_prior is not None:
        z = z + log_prior
    prob = softmax2d(z, 1.0)
    log_prob = np.log(np.maximum(prob, 1e-300))
    i, j = np.unravel_index(int(np.argmax(prob)), prob.shape)
    di, dj = refine_peak(log_prob, i, j)
    origin_row, origin_col = origin_pair(prob_origin_px)
    row = origin_row + prob_stride_px * (i + di)
    col = origin_col + prob_stride_px * (j + dj)
    rows, cols = cell_centers_px(prob.shape, prob_origin_px, prob_stride_px)
    dr, dc = rows - row, cols - col
    quant = prob_stride_px**2 / 12.0
    var_r = float(np.sum(prob * dr * dr)) + quant
    var_c = float(np.sum(prob * dc * dc)) + quant
    cov_rc = float(np.sum(prob * dr * dc))
    m2 = meters_per_pixel**2
    # east = +col * mpp, north = -row * mpp
    cov_en = np.array([[var_c * m2, -cov_rc * m2], [-cov_rc * m2, var_r * m2]])
    east = (col - patch_size_px / 2.0) * meters_per_pixel
    north = -(row - patch_size_px / 2.0) * meters_per_pixel
    return Posterior(float(row), float(col), float(east), float(north), cov_en, float(prob[i, j]), prob)


def mahalanobis2(err: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distance of errors ``[..., 2]`` under covariances ``[..., 2, 2]``."""
    err = np.asarray(err, dtype=np.float64)
    sol = np.linalg.solve(np.asarray(cov, dtype=np.float64), err[..., None])[..., 0]
    return np.sum(err * sol, axis=-1)


def gaussian_nll_2d(err: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Negative log-likelihood of errors ``[..., 2]`` under zero-mean Gaussians ``[..., 2, 2]``."""
    cov = np.asarray(cov, dtype=np.float64)
    _, logdet = np.linalg.slogdet(cov)
    return 0.5 * (mahalanobis2(err, cov) + logdet) + math.log(2.0 * math.pi)
