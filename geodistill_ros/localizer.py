"""The pure-Python localizer: a camera image plus a GPS prior in, a 3-DoF pose with a calibrated covariance out.

No ROS and no torch here: :mod:`geodistill_ros.node` is the rclpy shell around :class:`Localizer`.

One call of :meth:`Localizer.localize` does, in order (docs/ARCHITECTURE.md, "The model contract"):

1. **Satellite search patch** ``search_size_px`` (model.json, or the config) around the GPS prior from the tile
   source; it and its encoder features are cached and reused while the prior stays within
   ``recrop_distance_m`` of the patch centre.
2. **Ground canvas** (north-aligned, ``camera.ground_canvas``) at the camera's yaw: the heading prior's yaw when
   there is one; otherwise a **coarse search** that rolls one canvas over ``yaw_hypotheses`` headings and keeps
   the heading whose position map has the best peak score (matcher logit / temperature + GPS log-prior).
3. **Orientation refinement** (when the model has an orientation network): a patch centred on the position
   estimate, the canvas aligned with the current yaw -> a distribution over yaw corrections (fused with the
   heading prior's Gaussian when there is one); its mean is the yaw, its second moment the yaw variance; the
   position is then re-matched at the refined yaw.
4. **Posterior** (``posterior.posterior_from_logits``) of ``logits / posterior_temperature`` (calibrated on held-out
   data, stored in model.json), optionally times the GPS prior's Gaussian; cells whose satellite pixel has no
   imagery are excluded.
5. **Camera -> base_link** through the camera's mounting offset (the lever arm also carries yaw variance into
   position), covariance floored and guaranteed finite, symmetric positive definite.

Errors are typed: :class:`LocalizerInputError` (bad image, camera, prior), :class:`CoverageError` (no imagery
under the prior); tile failures raise :class:`geodistill_ros.tiles.TileError` and inference failures
:class:`geodistill_ros.inference.InferenceError`, unchanged.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from geodistill_ros import geometry
from geodistill_ros.camera import PanoramaCamera, PinholeCamera, ground_canvas
from geodistill_ros.inference.model_files import SAT_MULTIPLE_PX
from geodistill_ros.posterior import (
    cell_centers_px,
    gaussian_log_prior,
    origin_pair,
    posterior_from_logits,
    prob_origin_rc,
    softmax2d,
)

DEFAULT_MODEL_DIR = str(Path(__file__).resolve().parent / "models")
INVALID_CELL_LOG_PRIOR = -1.0e6  # finite: excludes cells without imagery but never produces NaN
MAX_VARIANCE = 1.0e6  # variances are capped here so a covariance is always finite


class LocalizerError(Exception):
    """Base class of the Localizer's own failures."""


class LocalizerInputError(LocalizerError, ValueError):
    """The image, camera or prior cannot be used (wrong shape, NaN, size mismatch, ...)."""


class CoverageError(LocalizerError):
    """The satellite patch around the prior has (almost) no imagery."""


@dataclass
class LocalizerConfig:
    """Everything the Localizer needs besides the inputs; defaults are the shipped behaviour."""

    model_dir: str = DEFAULT_MODEL_DIR  # folder with the ONNX graphs + model.json
    backend: str = "auto"  # "auto" | "tensorrt" | "onnxruntime" | "onnxruntime-cuda" | "torch"
    threads: int | None = None  # inference threads (None: the backend's default)
    tile_source: str = ""  # URL template, XYZ folder, MBTiles or GeoTIFF (see tiles.open_tile_source)
    tile_cache_dir: str | None = None
    tile_offline: bool = False
    tile_user_agent: str | None = None
    tile_timeout_s: float = 5.0
    datum: tuple[float, float] | None = None  # (lat_deg, lon_deg) of the map origin; None: the first prior's
    search_size_px: int | None = None  # satellite search patch side; None: model.json search_size_px
    recrop_distance_m: float = 10.0  # re-crop (and re-encode) when the prior moves this far from the patch centre
    fuse_gps_prior: bool = True  # multiply the probability map by the GPS prior's Gaussian
    gps_sigma_floor_m: float = 1.0  # never trust a GPS fix more than this (1-sigma, per axis)
    posterior_temperature: float | None = None  # None: model.json posterior_temperature (else temperature)
    yaw_hypotheses: int = 12  # headings tried by the coarse search when there is no heading prior
    refine_orientation: bool = True  # use the orientation network when the model has one
    rematch_after_refine: bool = True  # re-run the matcher at the refined yaw ...
    rematch_min_correction_rad: float | None = None  # ... when it moved this much (None: half a canvas column)
    yaw_prior_sigma_rad: float = math.radians(5.0)  # default 1-sigma of a heading prior without a variance
    position_variance_floor_m2: float = 0.04  # (0.2 m)^2: no position variance below this
    yaw_variance_floor_rad2: float = math.radians(0.5) ** 2
    confidence_radius_m: float = 2.0  # confidence = matcher probability mass within this radius of the estimate
    min_valid_fraction: float = 0.25  # CoverageError below this fraction of cells with imagery
    camera_height_m: float | None = None  # actual camera height; None: the model's (no canvas rescaling)
    camera_x_m: float = 0.0  # camera position in base_link (x forward, y left), metres
    camera_y_m: float = 0.0
    camera_yaw_rad: float = 0.0  # camera forward direction relative to base_link x (CCW)
    max_image_pixels: int = 50_000_000  # reject larger images (memory guard)

    def __post_init__(self) -> None:
        if self.search_size_px is not None and (self.search_size_px <= 0 or self.search_size_px % SAT_MULTIPLE_PX):
            raise ValueError(f"search_size_px must be a positive multiple of {SAT_MULTIPLE_PX}, "
                             f"got {self.search_size_px}")
        if not self.recrop_distance_m >= 0:
            raise ValueError(f"recrop_distance_m must be >= 0, got {self.recrop_distance_m}")
        if self.yaw_hypotheses < 1:
            raise ValueError(f"yaw_hypotheses must be >= 1, got {self.yaw_hypotheses}")
        if self.posterior_temperature is not None and not self.posterior_temperature > 0:
            raise ValueError(f"posterior_temperature must be > 0, got {self.posterior_temperature}")
        for name in ("gps_sigma_floor_m", "yaw_prior_sigma_rad", "position_variance_floor_m2",
                     "yaw_variance_floor_rad2", "confidence_radius_m"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite number, got {value}")
        if self.camera_height_m is not None and not (math.isfinite(self.camera_height_m) and
                                                     self.camera_height_m > 0):
            raise ValueError(f"camera_height_m must be > 0, got {self.camera_height_m}")
        if self.datum is not None:
            _check_latlon(*self.datum, what="datum")


@dataclass
class GpsPrior:
    """A GPS fix as a prior: WGS84 position plus the 2x2 ENU covariance of (east, north), m^2."""

    lat_deg: float
    lon_deg: float
    cov_en_m2: np.ndarray = field(default_factory=lambda: np.eye(2) * 25.0)
    alt_m: float = 0.0

    def __post_init__(self) -> None:
        _check_latlon(self.lat_deg, self.lon_deg, what="GPS prior")
        cov = np.asarray(self.cov_en_m2, dtype=np.float64)
        if cov.shape != (2, 2) or not np.all(np.isfinite(cov)):
            raise LocalizerInputError(f"GPS prior covariance must be a finite 2x2 matrix, got {cov.tolist()}")
        self.cov_en_m2 = 0.5 * (cov + cov.T)


@dataclass
class YawPrior:
    """A heading prior: ENU yaw of base_link (CCW from east) and its variance (None: the config default)."""

    yaw_rad: float
    variance_rad2: float | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.yaw_rad):
            raise LocalizerInputError(f"yaw prior must be finite, got {self.yaw_rad}")
        if self.variance_rad2 is not None and not (math.isfinite(self.variance_rad2) and self.variance_rad2 > 0):
            self.variance_rad2 = None


@dataclass(frozen=True)
class Attitude:
    """base_link's tilt off level, REP-103 ZYX Euler angles (e.g. an IMU's orientation): ``roll_rad`` about x
    (positive: right side down), ``pitch_rad`` about y (positive: nose down). The camera is assumed rigidly mounted
    on base_link (``LocalizerConfig.camera_yaw_rad``; a pinhole's own mount pitch stays in its camera model)."""

    roll_rad: float = 0.0
    pitch_rad: float = 0.0

    def __post_init__(self) -> None:
        for name in ("roll_rad", "pitch_rad"):
            value = getattr(self, name)
            if not (math.isfinite(value) and abs(value) < math.pi / 2):
                raise LocalizerInputError(f"attitude {name} must be finite and within +-90 deg, got {value}")


@dataclass
class Estimate:
    """A localization: base_link pose in the map frame (ENU about the datum) with its covariance."""

    x_m: float
    y_m: float
    yaw_rad: float
    covariance: np.ndarray  # [3, 3] of (x, y, yaw): m^2, m*rad, rad^2; finite, symmetric positive definite
    lat_deg: float
    lon_deg: float
    confidence: float  # matcher probability mass within confidence_radius_m of the estimate, in [0, 1]
    prob: np.ndarray  # [Hp, Wp] posterior probability map over the search patch (sums to 1)
    yaw_source: str  # "prior", "prior+refined", "search", "search+refined"
    datum: tuple[float, float]
    satellite: np.ndarray | None = None  # the search patch (uint8 [S, S, 3]) the map lies over
    prob_origin_px: tuple[float, float] = (0.0, 0.0)  # satellite pixel (row, col) of cell (0, 0)
    prob_stride_px: float = 1.0
    recropped: bool = False  # whether this call fetched and encoded a new satellite patch
    timings_ms: dict = field(default_factory=dict)


@dataclass
class _SatelliteCache:
    crop: object
    feats: dict
    center_en_m: np.ndarray
    cell_log_prior: np.ndarray  # [Hp, Wp] 0 for cells with imagery, INVALID_CELL_LOG_PRIOR without (lazy)


def _sat_input(image: np.ndarray) -> np.ndarray:
    """uint8 RGB ``[S, S, 3]`` -> float32 ``[1, 3, S, S]`` in [0, 1] (the networks' satellite input)."""
    return (image.astype(np.float32) / 255.0).transpose(2, 0, 1)[None].copy()


def _ground_inputs(canvas: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Canvas ``[Hg, Wg, 3]`` and mask ``[Hg, Wg]`` -> float32 ``[1, 3, Hg, Wg]`` and ``[1, 1, Hg, Wg]``."""
    return canvas.transpose(2, 0, 1)[None].astype(np.float32), mask[None, None].astype(np.float32)


def _check_latlon(lat: float, lon: float, what: str) -> None:
    if not (math.isfinite(lat) and math.isfinite(lon) and -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise LocalizerInputError(f"{what} must be a finite latitude/longitude, got ({lat}, {lon})")


# --- pure helpers (tested with known values) ---------------------------------------------------------
def roll_yaw_rad(base_yaw_rad: float, roll_px: int, width: int) -> float:
    """Camera yaw that ``np.roll(canvas, roll_px, axis=1)`` of a canvas aligned at ``base_yaw_rad`` is aligned at.

    Canvas column ``u`` shows the image column ``u - north_align_shift_px(yaw)``; the shift falls by
    ``W / 2pi`` per radian of yaw, so rolling right by ``r`` columns equals turning by ``-2pi r / W``.
    """
    return float(geometry.wrap_angle(base_yaw_rad - 2.0 * math.pi * roll_px / width))


def rescale_canvas_height(canvas: np.ndarray, mask: np.ndarray, actual_height_m: float, model_height_m: float):
    """Warp canvas rows so a camera at ``actual_height_m`` looks like one at the model's ``model_height_m``.

    A ground point at distance ``r`` sits at zenith ``pi - atan(r / h)``; rows above the horizon are unchanged.
    """
    if abs(actual_height_m - model_height_m) < 1e-9:
        return canvas, mask
    hg, wg = mask.shape
    zenith = (np.arange(hg, dtype=np.float64) + 0.5) / hg * np.pi
    below = zenith > np.pi / 2.0
    src_zenith = zenith.copy()
    ground_r = model_height_m * np.tan(np.pi - zenith[below])  # distance the model assumes for this row
    src_zenith[below] = np.pi - np.arctan(ground_r / actual_height_m)
    src_row = (src_zenith / np.pi * hg - 0.5).astype(np.float32)
    map_y = np.broadcast_to(src_row[:, None], (hg, wg)).copy()
    map_x = np.broadcast_to(np.arange(wg, dtype=np.float32)[None, :], (hg, wg)).copy()
    out = cv2.remap(canvas, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    out_mask = cv2.remap(mask, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
    return out, out_mask


def orientation_bins_rad(bins: int, range_deg: float) -> np.ndarray:
    """Yaw correction (rad, CCW positive) of each orientation bin: ``-range/2 + (k + 0.5) * range/bins`` degrees."""
    width = range_deg / bins
    return np.radians(-range_deg / 2.0 + (np.arange(bins) + 0.5) * width)


def yaw_correction_distribution(yaw_logits: np.ndarray, bins_rad: np.ndarray, temperature: float = 1.0,
                                prior_sigma_rad: float | None = None) -> tuple[float, float, np.ndarray]:
    """Mean correction (rad), its variance (rad^2) and the distribution over bins.

    The mean is the probability-weighted mean of a window symmetric about the most probable bin (+-10 bins), the
    variance the second moment of the whole distribution about it plus one bin's quantisation variance. A heading prior
    (correction 0 = the prior) multiplies in as a Gaussian of ``prior_sigma_rad``.
    """
    z = np.asarray(yaw_logits, dtype=np.float64).reshape(-1) / temperature
    if z.shape[0] != bins_rad.shape[0] or not np.all(np.isfinite(z)):
        raise LocalizerInputError(f"yaw_logits must be {bins_rad.shape[0]} finite values, got {z.shape[0]}")
    if prior_sigma_rad is not None:
        z = z - 0.5 * (bins_rad / prior_sigma_rad) ** 2
    p = softmax2d(z)
    k = int(np.argmax(p))
    half = min(10, k, len(p) - 1 - k)  # a window symmetric about the peak, so a truncated tail cannot bias it
    lo, hi = k - half, k + half + 1
    w = p[lo:hi]
    mean = float(np.sum(w * bins_rad[lo:hi]) / np.sum(w))
    step = float(bins_rad[1] - bins_rad[0]) if len(bins_rad) > 1 else math.radians(1.0)
    var = float(np.sum(p * (bins_rad - mean) ** 2)) + step**2 / 12.0
    return mean, var, p


def camera_to_base(cam_en_m: np.ndarray, yaw_rad: float, cov3: np.ndarray, offset_xy_m: tuple[float, float]):
    """Camera position (ENU) + base yaw -> base_link position and the propagated 3x3 covariance.

    ``base = cam - R(yaw) @ t`` with ``t`` the camera's (x forward, y left) position in base_link; the
    Jacobian's yaw column ``-R'(yaw) t`` carries yaw variance into position (lever arm).
    """
    c, s = math.cos(yaw_rad), math.sin(yaw_rad)
    t = np.asarray(offset_xy_m, dtype=np.float64)
    rot = np.array([[c, -s], [s, c]])
    d_rot = np.array([[-s, -c], [c, -s]])
    base = np.asarray(cam_en_m, dtype=np.float64) - rot @ t
    jac = np.eye(3)
    jac[:2, 2] = -d_rot @ t
    return base, jac @ cov3 @ jac.T


def floor_covariance(cov3: np.ndarray, position_floor_m2: float, yaw_floor_rad2: float,
                     max_variance: float = MAX_VARIANCE) -> np.ndarray:
    """A finite, symmetric positive definite 3x3 covariance with position eigenvalues and the yaw variance
    floored (and capped at ``max_variance``); non-finite input falls back to a diagonal at the cap."""
    cov = np.asarray(cov3, dtype=np.float64)
    if cov.shape != (3, 3) or not np.all(np.isfinite(cov)):
        return np.diag([max_variance, max_variance, min(max_variance, math.pi**2)])
    cov = 0.5 * (cov + cov.T)
    vals, vecs = np.linalg.eigh(cov[:2, :2])
    vals = np.clip(vals, position_floor_m2, max_variance)
    out = cov.copy()
    out[:2, :2] = vecs @ np.diag(vals) @ vecs.T
    out[2, 2] = float(np.clip(cov[2, 2], yaw_floor_rad2, max_variance))
    out = 0.5 * (out + out.T)
    # Cross terms may only shrink: keep |rho| < 1 so the matrix stays positive definite.
    for i in (0, 1):
        limit = 0.99 * math.sqrt(out[i, i] * out[2, 2])
        out[i, 2] = out[2, i] = float(np.clip(out[i, 2], -limit, limit))
    try:
        np.linalg.cholesky(out)
    except np.linalg.LinAlgError:
        out = np.diag(np.diag(out))
    return out


def probability_mass_within(prob: np.ndarray, row_px: float, col_px: float, radius_px: float,
                            origin_px, stride_px: float) -> float:
    """Probability mass of the cells whose centre lies within ``radius_px`` of ``(row_px, col_px)``."""
    rows, cols = cell_centers_px(prob.shape, origin_px, stride_px)
    near = (rows - row_px) ** 2 + (cols - col_px) ** 2 <= max(radius_px, 0.5 * stride_px) ** 2
    return float(np.clip(np.sum(prob[near]), 0.0, 1.0))


def probability_overlay(estimate: Estimate, alpha: float = 0.6) -> np.ndarray:
    """A uint8 RGB heat map of ``estimate.prob`` over its satellite patch (for rviz / Foxglove)."""
    prob = np.asarray(estimate.prob, dtype=np.float64)
    heat = (255.0 * prob / max(float(prob.max()), 1e-12)).astype(np.uint8)
    if estimate.satellite is None:
        colored = cv2.applyColorMap(heat, cv2.COLORMAP_JET)
        return cv2.cvtColor(colored, cv2.COLOR_BGR2RGB)
    sat = np.asarray(estimate.satellite, dtype=np.uint8)
    size = sat.shape[0]
    # resample the map onto the satellite pixels: cell (i, j) centre = origin + i * stride
    origin_row, origin_col = origin_pair(estimate.prob_origin_px)
    px = np.arange(size, dtype=np.float32) + 0.5
    grid_x = ((px - origin_col) / estimate.prob_stride_px).astype(np.float32)
    grid_y = ((px - origin_row) / estimate.prob_stride_px).astype(np.float32)
    map_x = np.broadcast_to(grid_x[None, :], (size, size)).copy()
    map_y = np.broadcast_to(grid_y[:, None], (size, size)).copy()
    heat_full = cv2.remap(heat, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    colored = cv2.cvtColor(cv2.applyColorMap(heat_full, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    weight = (alpha * heat_full.astype(np.float32) / 255.0)[..., None]
    return (sat * (1.0 - weight) + colored * weight).astype(np.uint8)


def validate_image(image: np.ndarray, max_pixels: int) -> np.ndarray:
    """An RGB uint8 ``[H, W, 3]`` image of at least 2x2 and at most ``max_pixels`` pixels, or an error."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise LocalizerInputError(f"expected an RGB image [H, W, 3], got shape {image.shape}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise LocalizerInputError(f"image too small: {image.shape[1]}x{image.shape[0]}")
    if image.shape[0] * image.shape[1] > max_pixels:
        raise LocalizerInputError(f"image too large: {image.shape[1]}x{image.shape[0]} > {max_pixels} pixels")
    if image.dtype != np.uint8:
        if not np.issubdtype(image.dtype, np.floating) or not np.all(np.isfinite(image)):
            raise LocalizerInputError(f"image must be uint8 (or finite float in [0, 1]), got {image.dtype}")
    return image


class Localizer:
    """Camera + GPS prior -> :class:`Estimate`. ``model`` / ``tile_source`` may be injected (tests, replay);
    otherwise they are loaded from ``config.model_dir`` and opened from ``config.tile_source``."""

    def __init__(self, config: LocalizerConfig | None = None, model=None, tile_source=None):
        self.config = config or LocalizerConfig()
        if model is None:
            from geodistill_ros.inference import load_model  # imported lazily: heavy backends

            model = load_model(self.config.model_dir, backend=self.config.backend, threads=self.config.threads)
        if tile_source is None:
            from geodistill_ros.tiles import open_tile_source

            tile_source = open_tile_source(self.config.tile_source, cache_dir=self.config.tile_cache_dir,
                                           offline=self.config.tile_offline,
                                           user_agent=self.config.tile_user_agent,
                                           timeout_s=self.config.tile_timeout_s)
        self.model = model
        self.tiles = tile_source
        meta = model.meta
        self.meta = meta
        self.meters_per_pixel = float(meta["meters_per_pixel"])
        self.search_size_px = int(self.config.search_size_px or meta.get("search_size_px", meta["sat_size_px"]))
        if self.search_size_px % SAT_MULTIPLE_PX:
            raise ValueError(f"search size {self.search_size_px} px is not a multiple of {SAT_MULTIPLE_PX}")
        self.canvas_hw = (int(meta["ground_height_px"]), int(meta["ground_width_px"]))
        self.prob_origin_px = prob_origin_rc(meta)  # (row, col), the calibrated position offset applied
        self.prob_stride_px = float(meta["prob_stride_px"])
        self.temperature = float(self.config.posterior_temperature or meta.get("posterior_temperature")
                                 or meta["temperature"])
        ori = meta.get("orientation") or None
        self.has_orientation = bool(ori) and bool(getattr(model, "has_orientation", True))
        if self.has_orientation:
            self.orientation_bins_rad = orientation_bins_rad(int(ori["bins"]), float(ori["range_deg"]))
            self.orientation_sat_px = int(ori["sat_size_px"])
            self.orientation_temperature = float(ori.get("temperature", 1.0))
        self.datum = tuple(self.config.datum) if self.config.datum is not None else None
        self._cache: _SatelliteCache | None = None

    @property
    def backend_name(self) -> str:
        return str(getattr(self.model, "backend_name", type(self.model).__name__))

    def set_datum(self, lat_deg: float, lon_deg: float) -> None:
        _check_latlon(lat_deg, lon_deg, what="datum")
        self.datum = (float(lat_deg), float(lon_deg))

    def reset_cache(self) -> None:
        self._cache = None

    # --- the call ------------------------------------------------------------------------------------
    def localize(self, image: np.ndarray, camera, gps_prior: GpsPrior, yaw_prior: YawPrior | float | None = None,
                 attitude: Attitude | None = None) -> Estimate:
        """Localize one frame. ``camera``: :class:`PanoramaCamera` or :class:`PinholeCamera` describing ``image``;
        ``yaw_prior``: base_link yaw (rad, CCW from east) or a :class:`YawPrior`, or None for a coarse search;
        ``attitude``: base_link's roll and pitch (:class:`Attitude`), or None for a level camera. With it the
        image is levelled before matching (the bird's-eye projection assumes a level camera; a 1.5 deg tilt moves
        ground points 12 m away by about 2 m)."""
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        image = validate_image(image, self.config.max_image_pixels)
        if not isinstance(camera, (PanoramaCamera, PinholeCamera)):
            raise LocalizerInputError(f"unsupported camera model {type(camera).__name__}")
        if (camera.height, camera.width) != image.shape[:2] and isinstance(camera, PinholeCamera):
            raise LocalizerInputError(f"image is {image.shape[1]}x{image.shape[0]} but the camera is "
                                      f"{camera.width}x{camera.height}")
        if not isinstance(gps_prior, GpsPrior):
            raise LocalizerInputError(f"gps_prior must be a GpsPrior, got {type(gps_prior).__name__}")
        if attitude is not None and not isinstance(attitude, Attitude):
            raise LocalizerInputError(f"attitude must be an Attitude or None, got {type(attitude).__name__}")
        tilt = (None if attitude is None or (attitude.roll_rad == 0.0 and attitude.pitch_rad == 0.0) else
                geometry.tilt_rotation(attitude.roll_rad, attitude.pitch_rad, self.config.camera_yaw_rad))
        if yaw_prior is not None and not isinstance(yaw_prior, YawPrior):
            yaw_prior = YawPrior(float(yaw_prior))
        if self.datum is None:
            self.set_datum(gps_prior.lat_deg, gps_prior.lon_deg)

        cache, recropped = self._satellite_for(gps_prior, timings)

        def log_prior_for(shape) -> np.ndarray:  # cells without imagery excluded, times the GPS Gaussian
            lp = cache.cell_log_prior.copy()
            if self.config.fuse_gps_prior:
                lp += self._gps_log_prior(cache, gps_prior, shape)
            return lp

        mount = self.config.camera_yaw_rad
        t = time.perf_counter()
        if yaw_prior is not None:
            cam_yaw = yaw_prior.yaw_rad + mount
            canvas, mask = self._canvas(image, camera, cam_yaw, tilt)
            logits = self._match(canvas, mask, cache)
            log_prior = log_prior_for(logits.shape)
            yaw_source, spread_var = "prior", None
            prior_var = yaw_prior.variance_rad2 or self.config.yaw_prior_sigma_rad**2
        else:
            cam_yaw, canvas, mask, logits, log_prior, spread_var = self._coarse_search(image, camera, cache,
                                                                                       log_prior_for, tilt)
            yaw_source, prior_var = "search", None
        timings["match_ms"] = (time.perf_counter() - t) * 1e3

        post = posterior_from_logits(logits, self.temperature, self.prob_origin_px, self.prob_stride_px,
                                     self.meters_per_pixel, self.search_size_px, log_prior=log_prior)
        yaw_var = prior_var if prior_var is not None else spread_var
        if self.has_orientation and self.config.refine_orientation:
            t = time.perf_counter()
            correction, corr_var = self._refine_yaw(cache, post, canvas, mask,
                                                    math.sqrt(prior_var) if prior_var is not None else None)
            cam_yaw = float(geometry.wrap_angle(cam_yaw + correction))
            # with a prior, the fused orientation distribution is the posterior; without, add the search spread
            yaw_var = corr_var + (spread_var if prior_var is None else 0.0)
            yaw_source += "+refined"
            min_correction = self.config.rematch_min_correction_rad
            if min_correction is None:  # below half a canvas column the canvas would barely change
                min_correction = math.pi / self.canvas_hw[1]
            if self.config.rematch_after_refine and abs(correction) >= min_correction:
                canvas, mask = self._canvas(image, camera, cam_yaw, tilt)
                logits = self._match(canvas, mask, cache)
                post = posterior_from_logits(logits, self.temperature, self.prob_origin_px, self.prob_stride_px,
                                             self.meters_per_pixel, self.search_size_px, log_prior=log_prior)
            timings["orientation_ms"] = (time.perf_counter() - t) * 1e3

        # confidence from the matcher alone (no GPS prior): how much visual evidence supports the estimate
        visual = softmax2d(np.asarray(logits, dtype=np.float64).reshape(post.prob.shape) / self.temperature
                           + cache.cell_log_prior, 1.0)
        confidence = probability_mass_within(visual, post.row_px, post.col_px,
                                             self.config.confidence_radius_m / self.meters_per_pixel,
                                             self.prob_origin_px, self.prob_stride_px)

        base_yaw = float(geometry.wrap_angle(cam_yaw - mount))
        cov3 = np.zeros((3, 3))
        cov3[:2, :2] = post.cov_en_m2
        cov3[2, 2] = yaw_var
        cam_en = cache.center_en_m + np.array([post.east_m, post.north_m])
        base_en, cov3 = camera_to_base(cam_en, base_yaw, cov3, (self.config.camera_x_m, self.config.camera_y_m))
        cov3 = floor_covariance(cov3, self.config.position_variance_floor_m2, self.config.yaw_variance_floor_rad2)
        lat, lon, _ = geometry.enu_to_geodetic(base_en[0], base_en[1], 0.0, self.datum[0], self.datum[1])
        timings["total_ms"] = (time.perf_counter() - t0) * 1e3
        return Estimate(
            x_m=float(base_en[0]), y_m=float(base_en[1]), yaw_rad=base_yaw, covariance=cov3,
            lat_deg=float(lat), lon_deg=float(lon), confidence=confidence, prob=post.prob, yaw_source=yaw_source,
            datum=self.datum, satellite=cache.crop.image, prob_origin_px=self.prob_origin_px,
            prob_stride_px=self.prob_stride_px, recropped=recropped, timings_ms=timings,
        )

    # --- stages --------------------------------------------------------------------------------------
    def _satellite_for(self, prior: GpsPrior, timings: dict) -> tuple[_SatelliteCache, bool]:
        east, north, _ = geometry.geodetic_to_enu(prior.lat_deg, prior.lon_deg, 0.0, self.datum[0], self.datum[1])
        prior_en = np.array([float(east), float(north)])
        cache = self._cache
        if cache is not None and np.hypot(*(prior_en - cache.center_en_m)) <= self.config.recrop_distance_m:
            return cache, False
        t = time.perf_counter()
        crop = self.tiles.crop(prior.lat_deg, prior.lon_deg, self.search_size_px, self.meters_per_pixel)
        timings["tiles_ms"] = (time.perf_counter() - t) * 1e3
        image = np.asarray(crop.image)
        if image.shape != (self.search_size_px, self.search_size_px, 3):
            raise CoverageError(f"tile crop has shape {image.shape}, expected {self.search_size_px}^2 x 3")
        t = time.perf_counter()
        feats = self.model.encode_satellite(_sat_input(image))
        timings["encode_ms"] = (time.perf_counter() - t) * 1e3
        ce, cn, _ = geometry.geodetic_to_enu(crop.center_lat, crop.center_lon, 0.0, self.datum[0], self.datum[1])
        cache = _SatelliteCache(crop=crop, feats=feats, center_en_m=np.array([float(ce), float(cn)]),
                                cell_log_prior=np.zeros((0, 0)))
        self._cache = cache
        return cache, True

    def _cells_with_imagery(self, cache: _SatelliteCache, shape: tuple[int, int]) -> np.ndarray:
        valid = getattr(cache.crop, "valid_mask", None)
        if valid is None:
            return np.zeros(shape)
        valid = np.asarray(valid, dtype=bool)
        size = valid.shape[0]
        rows, cols = cell_centers_px(shape, self.prob_origin_px, self.prob_stride_px)
        ri = np.clip(np.floor(rows.ravel()).astype(int), 0, size - 1)
        ci = np.clip(np.floor(cols.ravel()).astype(int), 0, size - 1)
        ok = valid[np.ix_(ri, ci)]
        if ok.mean() < self.config.min_valid_fraction:
            raise CoverageError(f"only {100 * ok.mean():.0f}% of the satellite search patch has imagery "
                                f"(need {100 * self.config.min_valid_fraction:.0f}%)")
        return np.where(ok, 0.0, INVALID_CELL_LOG_PRIOR)

    def _gps_log_prior(self, cache: _SatelliteCache, prior: GpsPrior, shape) -> np.ndarray:
        row, col = cache.crop.latlon_to_pixel(prior.lat_deg, prior.lon_deg)
        cov = prior.cov_en_m2.copy()
        vals, vecs = np.linalg.eigh(cov)
        cov = vecs @ np.diag(np.maximum(vals, self.config.gps_sigma_floor_m**2)) @ vecs.T
        m2 = self.meters_per_pixel**2
        # row = -north / mpp, col = east / mpp
        cov_rc = np.array([[cov[1, 1], -cov[0, 1]], [-cov[0, 1], cov[0, 0]]]) / m2
        return gaussian_log_prior(shape, self.prob_origin_px, self.prob_stride_px, (float(row), float(col)), cov_rc)

    def _canvas(self, image, camera, cam_yaw_rad: float, tilt=None):
        canvas, mask = ground_canvas(image, camera, cam_yaw_rad, self.canvas_hw, tilt)
        actual = self.config.camera_height_m
        if actual is not None:
            canvas, mask = rescale_canvas_height(canvas, mask, actual, float(self.meta["camera_height_m"]))
        return canvas, mask

    def _match(self, canvas: np.ndarray, mask: np.ndarray, cache: _SatelliteCache) -> np.ndarray:
        out = self.model.match(*_ground_inputs(canvas, mask), cache.feats)
        logits = np.asarray(out["logits"], dtype=np.float64)
        if logits.ndim == 3:
            logits = logits[0]
        if not np.all(np.isfinite(logits)):
            raise LocalizerError("the matcher returned NaN or inf logits")
        if cache.cell_log_prior.shape != logits.shape:
            cache.cell_log_prior = self._cells_with_imagery(cache, logits.shape)
        return logits

    def _coarse_search(self, image, camera, cache, log_prior_for, tilt=None):
        n = self.config.yaw_hypotheses
        wg = self.canvas_hw[1]
        base_yaw = self.config.camera_yaw_rad
        # rolling the columns turns the heading; the tilt is defined in the heading frame, so it turns along
        canvas0, mask0 = self._canvas(image, camera, base_yaw, tilt)
        scores, results = [], []
        log_prior = None
        for k in range(n):
            roll = int(round(k * wg / n))
            canvas = np.roll(canvas0, roll, axis=1)
            mask = np.roll(mask0, roll, axis=1)
            logits = self._match(canvas, mask, cache)
            if log_prior is None:
                log_prior = log_prior_for(logits.shape)
            scores.append(float(np.max(logits / self.temperature + log_prior)))
            results.append((roll_yaw_rad(base_yaw, roll, wg), roll, logits))
        scores = np.asarray(scores)
        best = int(np.argmax(scores))
        yaws = np.array([r[0] for r in results])
        p = softmax2d(scores)
        spacing = 2.0 * math.pi / n
        spread = float(np.sum(p * geometry.wrap_angle(yaws - yaws[best]) ** 2)) + spacing**2 / 12.0
        yaw, roll, logits = results[best]  # only the winner's canvas is needed again
        return yaw, np.roll(canvas0, roll, axis=1), np.roll(mask0, roll, axis=1), logits, log_prior, spread

    def _refine_yaw(self, cache, post, canvas, mask, prior_sigma_rad):
        side = self.orientation_sat_px
        patch = cv2.getRectSubPix(np.asarray(cache.crop.image), (side, side),
                                  (float(post.col_px) - 0.5, float(post.row_px) - 0.5))
        yaw_logits = self.model.orientation(_sat_input(patch), *_ground_inputs(canvas, mask))
        mean, var, _ = yaw_correction_distribution(yaw_logits, self.orientation_bins_rad,
                                                   self.orientation_temperature, prior_sigma_rad)
        return mean, var
