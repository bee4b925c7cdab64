"""Localizer without ROS: geometry, yaw search/refinement, GPS fusion, caching, covariance, bad input.

The model and the tile source are the fakes of ``test_localizer_fakes`` (no real network: the matcher peaks on
a red disk at the true camera position, the yaw comes from a stripe due north); ``test_localizer_model.py``
runs the exported default model on the synthetic world.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from geodistill_ros import geometry
from geodistill_ros.camera import ground_canvas
from geodistill_ros.localizer import (
    CoverageError,
    GpsPrior,
    Localizer,
    LocalizerConfig,
    LocalizerInputError,
    YawPrior,
    camera_to_base,
    floor_covariance,
    orientation_bins_rad,
    probability_overlay,
    rescale_canvas_height,
    roll_yaw_rad,
    yaw_correction_distribution,
)
from geodistill_ros.tiles.errors import TileServerDown
from tests.geodistill_ros.test_localizer_fakes import (
    CANVAS_HW,
    DATUM,
    FakeModel,
    FakeTileSource,
    fake_meta,
    panorama_camera,
    pinhole_camera,
    render_panorama,
    render_pinhole,
)

TRUTH_EN = (12.3, -7.6)


def _prior(east_m: float, north_m: float, sigma_m: float = 5.0) -> GpsPrior:
    lat, lon, _ = geometry.enu_to_geodetic(east_m, north_m, 0.0, *DATUM)
    return GpsPrior(float(lat), float(lon), np.eye(2) * sigma_m**2)


def _localizer(model=None, tiles=None, **config) -> Localizer:
    config.setdefault("datum", DATUM)
    return Localizer(LocalizerConfig(**config), model=model or FakeModel(),
                     tile_source=tiles or FakeTileSource(marker_en=TRUTH_EN))


def _assert_spd(cov: np.ndarray) -> None:
    assert cov.shape == (3, 3) and np.all(np.isfinite(cov))
    np.testing.assert_allclose(cov, cov.T)
    assert np.all(np.linalg.eigvalsh(cov) > 0)


# --- pure helpers -------------------------------------------------------------------------------------
def test_roll_yaw_matches_ground_canvas():
    image = render_panorama(0.3)
    cam = panorama_camera()
    base, _ = ground_canvas(image, cam, 0.0, CANVAS_HW)
    for roll in (0, 16, 64, 200):
        yaw = roll_yaw_rad(0.0, roll, CANVAS_HW[1])
        direct, _ = ground_canvas(image, cam, yaw, CANVAS_HW)
        np.testing.assert_allclose(np.roll(base, roll, axis=1), direct, atol=1e-5)


def test_rescale_canvas_height_known_row_and_identity():
    hg, wg = 64, 8
    canvas = np.repeat((np.arange(hg, dtype=np.float32) / hg)[:, None, None], wg, axis=1).repeat(3, axis=2)
    mask = np.ones((hg, wg), np.float32)
    same, _ = rescale_canvas_height(canvas, mask, 2.0, 2.0)
    assert same is canvas
    out, _ = rescale_canvas_height(canvas, mask, 4.0, 2.0)
    # above the horizon nothing moves
    np.testing.assert_allclose(out[: hg // 2], canvas[: hg // 2])
    # a row the model reads as 2 m away (zenith 135 deg) shows what a 4 m-high camera sees 2 m away
    row = int(0.75 * hg - 0.5)  # centre zenith = (row + 0.5) / hg * pi
    zenith = (row + 0.5) / hg * math.pi
    r = 2.0 * math.tan(math.pi - zenith)
    src = (math.pi - math.atan(r / 4.0)) / math.pi * hg - 0.5
    assert out[row, 0, 0] == pytest.approx(src / hg, abs=1e-4)


def test_orientation_bins_follow_the_contract():
    bins = orientation_bins_rad(90, 90.0)
    assert math.degrees(bins[0]) == pytest.approx(-44.5) and math.degrees(bins[-1]) == pytest.approx(44.5)


def test_yaw_correction_distribution_mean_variance_and_prior():
    bins = orientation_bins_rad(90, 90.0)
    deg = np.degrees(bins)
    logits = -((deg - 10.0) ** 2) / (2 * 2.0**2)
    mean, var, p = yaw_correction_distribution(logits, bins)
    assert math.degrees(mean) == pytest.approx(10.0, abs=0.05)
    assert math.degrees(math.sqrt(var)) == pytest.approx(math.sqrt(4.0 + 1 / 12), rel=0.02)
    assert p.sum() == pytest.approx(1.0)
    # a prior at 0 with the same sigma pulls the mean half-way
    mean_p, var_p, _ = yaw_correction_distribution(logits, bins, prior_sigma_rad=math.radians(2.0))
    assert math.degrees(mean_p) == pytest.approx(5.0, abs=0.1)
    assert var_p < var
    with pytest.raises(LocalizerInputError):
        yaw_correction_distribution(np.full(90, np.nan), bins)


def test_camera_to_base_lever_arm():
    cov = np.diag([0.1, 0.1, 0.01])
    base, cov_b = camera_to_base(np.array([10.0, 5.0]), math.pi / 2, cov, (1.0, 0.0))
    np.testing.assert_allclose(base, [10.0, 4.0], atol=1e-12)  # facing north, camera 1 m ahead
    # yaw error moves a 1 m lever arm sideways (east): var_x grows by 1^2 * var_yaw
    assert cov_b[0, 0] == pytest.approx(0.11) and cov_b[1, 1] == pytest.approx(0.1)
    assert cov_b[0, 2] == pytest.approx(0.01)


def test_floor_covariance_is_spd_finite_and_floored():
    out = floor_covariance(np.zeros((3, 3)), 0.04, 1e-4)
    _assert_spd(out)
    assert out[0, 0] == pytest.approx(0.04) and out[2, 2] == pytest.approx(1e-4)
    bad = floor_covariance(np.full((3, 3), np.nan), 0.04, 1e-4)
    _assert_spd(bad)
    rank1 = np.outer([1.0, 1.0, 1.0], [1.0, 1.0, 1.0])
    _assert_spd(floor_covariance(rank1, 0.04, 1e-4))
    huge = floor_covariance(np.diag([1e30, 1.0, 1.0]), 0.04, 1e-4)
    assert huge[0, 0] <= 1e6


# --- the Localizer on the fake world --------------------------------------------------------------------
@pytest.mark.parametrize("yaw_deg", [0.0, 73.0, -140.0])
def test_panorama_with_heading_prior(yaw_deg):
    yaw = math.radians(yaw_deg)
    loc = _localizer()
    gps = (TRUTH_EN[0] + 3, TRUTH_EN[1] - 2)
    est = loc.localize(render_panorama(yaw), panorama_camera(), _prior(*gps, sigma_m=5.0), yaw)
    # product of the matcher's Gaussian (sigma 3 px * 0.5 m) and the GPS prior's (5 m)
    s_l2, s_p2 = 1.5**2, 5.0**2
    fused = [(t * s_p2 + g * s_l2) / (s_l2 + s_p2) for t, g in zip(TRUTH_EN, gps)]
    assert math.hypot(est.x_m - fused[0], est.y_m - fused[1]) < 0.1
    assert abs(math.degrees(geometry.wrap_angle(est.yaw_rad - yaw))) < 1.5
    assert est.yaw_source == "prior+refined"
    _assert_spd(est.covariance)
    var = s_l2 * s_p2 / (s_l2 + s_p2)
    assert est.covariance[0, 0] == pytest.approx(var + 2.0**2 / 12, rel=0.15)
    # mass of a 2-D Gaussian (sigma 1.5 m) within 2 m
    assert est.confidence == pytest.approx(1 - math.exp(-(2.0**2) / (2 * s_l2)), abs=0.12)
    assert est.prob.sum() == pytest.approx(1.0)
    lat, lon, _ = geometry.enu_to_geodetic(est.x_m, est.y_m, 0.0, *DATUM)
    assert (est.lat_deg, est.lon_deg) == pytest.approx((float(lat), float(lon)), abs=1e-9)


def test_wrong_heading_prior_is_corrected_by_refinement():
    yaw = math.radians(30.0)
    loc = _localizer()
    est = loc.localize(render_panorama(yaw), panorama_camera(), _prior(*TRUTH_EN), YawPrior(yaw + math.radians(20),
                                                                                              math.radians(30) ** 2))
    assert abs(math.degrees(geometry.wrap_angle(est.yaw_rad - yaw))) < 1.5


def test_rematch_only_when_refinement_moves_the_canvas():
    yaw = math.radians(30.0)
    exact, off = FakeModel(), FakeModel()
    est = _localizer(model=exact).localize(render_panorama(yaw), panorama_camera(), _prior(*TRUTH_EN),
                                           YawPrior(yaw, math.radians(3) ** 2))
    assert abs(math.degrees(geometry.wrap_angle(est.yaw_rad - yaw))) < 0.7
    assert exact.calls["orientation"] == 1 and exact.calls["match"] == 1  # sub-column correction: no rematch
    _localizer(model=off).localize(render_panorama(yaw), panorama_camera(), _prior(*TRUTH_EN),
                                   YawPrior(yaw + math.radians(20), math.radians(30) ** 2))
    assert off.calls["match"] == 2  # a 20 degree correction: matched again at the refined yaw


@pytest.mark.parametrize("yaw_deg", [10.0, 100.0, -95.0, 179.0])
def test_coarse_yaw_search_without_prior(yaw_deg):
    yaw = math.radians(yaw_deg)
    model = FakeModel()
    loc = _localizer(model=model, yaw_hypotheses=12)
    est = loc.localize(render_panorama(yaw), panorama_camera(), _prior(*TRUTH_EN))
    assert est.yaw_source == "search+refined"
    assert abs(math.degrees(geometry.wrap_angle(est.yaw_rad - yaw))) < 1.5
    assert math.hypot(est.x_m - TRUTH_EN[0], est.y_m - TRUTH_EN[1]) < 0.3
    spacing = 2 * math.pi / 12
    correction = geometry.wrap_angle(est.yaw_rad - round(est.yaw_rad / spacing) * spacing)
    rematched = abs(correction) >= math.pi / CANVAS_HW[1]  # refined by more than half a canvas column
    assert model.calls["match"] == 12 + int(rematched)  # hypotheses (+ a re-match at the refined yaw)
    _assert_spd(est.covariance)


def test_coarse_search_without_orientation_net_reports_spacing_variance():
    yaw = math.radians(47.0)
    loc = _localizer(model=FakeModel(meta=fake_meta(orientation=None)), yaw_hypotheses=36)
    est = loc.localize(render_panorama(yaw), panorama_camera(), _prior(*TRUTH_EN))
    assert est.yaw_source == "search"
    assert abs(math.degrees(geometry.wrap_angle(est.yaw_rad - yaw))) <= 5.0 + 0.5  # half the 10-deg spacing
    assert est.covariance[2, 2] >= math.radians(10.0) ** 2 / 12 - 1e-12


def test_pinhole_camera_with_prior():
    yaw = math.radians(100.0)  # facing a little west of north: the north stripe is in view
    loc = _localizer()
    est = loc.localize(render_pinhole(yaw), pinhole_camera(), _prior(*TRUTH_EN), yaw + math.radians(4))
    assert math.hypot(est.x_m - TRUTH_EN[0], est.y_m - TRUTH_EN[1]) < 0.3
    assert abs(math.degrees(geometry.wrap_angle(est.yaw_rad - yaw))) < 2.0


def test_camera_extrinsics_move_the_base_estimate():
    yaw = math.radians(90.0)  # facing north; camera mounted 1.5 m ahead of base_link, yawed 90 deg left
    mount = math.pi / 2
    loc = _localizer(camera_x_m=1.5, camera_yaw_rad=mount)
    est = loc.localize(render_panorama(yaw + mount), panorama_camera(), _prior(*TRUTH_EN), yaw)
    assert est.x_m == pytest.approx(TRUTH_EN[0], abs=0.3)
    assert est.y_m == pytest.approx(TRUTH_EN[1] - 1.5, abs=0.3)
    assert abs(math.degrees(geometry.wrap_angle(est.yaw_rad - yaw))) < 1.5


def test_satellite_features_are_cached_until_the_prior_moves():
    tiles = FakeTileSource(marker_en=TRUTH_EN)
    model = FakeModel()
    loc = _localizer(model=model, tiles=tiles, recrop_distance_m=10.0, fuse_gps_prior=False)
    image, cam, yaw = render_panorama(0.5), panorama_camera(), 0.5
    first = loc.localize(image, cam, _prior(*TRUTH_EN), yaw)
    second = loc.localize(image, cam, _prior(TRUTH_EN[0] + 4, TRUTH_EN[1] + 4), yaw)
    assert first.recropped and not second.recropped
    assert tiles.crops == 1 and model.calls["encode"] == 1
    third = loc.localize(image, cam, _prior(TRUTH_EN[0] + 12, TRUTH_EN[1]), yaw)
    assert third.recropped and tiles.crops == 2 and model.calls["encode"] == 2
    for est in (second, third):  # the answer does not depend on where the patch was cut
        assert math.hypot(est.x_m - TRUTH_EN[0], est.y_m - TRUTH_EN[1]) < 0.3


def test_gps_fusion_with_an_uninformative_matcher_returns_the_prior():
    loc = _localizer(model=FakeModel(flat=True, meta=fake_meta(orientation=None)))
    gps = (TRUTH_EN[0] + 2.0, TRUTH_EN[1] - 1.0)
    est = loc.localize(render_panorama(0.0), panorama_camera(), _prior(*gps, sigma_m=4.0), 0.0)
    assert math.hypot(est.x_m - gps[0], est.y_m - gps[1]) < 0.5
    # the covariance is the prior's (plus one cell's quantisation), not the patch's spread
    assert est.covariance[0, 0] == pytest.approx(16.0 + 4.0**2 * 0.25 / 12, rel=0.1)
    assert est.confidence < 0.2
    no_fusion = _localizer(model=FakeModel(flat=True, meta=fake_meta(orientation=None)), fuse_gps_prior=False)
    flat = no_fusion.localize(render_panorama(0.0), panorama_camera(), _prior(*gps, sigma_m=4.0), 0.0)
    assert flat.covariance[0, 0] > 100.0  # uniform over a 64 m patch
    _assert_spd(flat.covariance)


def test_temperature_scales_the_covariance():
    covs = []
    for temperature in (1.0, 2.0):
        loc = _localizer(model=FakeModel(meta=fake_meta(orientation=None), yaw_weight=0.0, sigma_px=6.0),
                         posterior_temperature=temperature, fuse_gps_prior=False)
        est = loc.localize(render_panorama(0.0), panorama_camera(), _prior(*TRUTH_EN), 0.0)
        covs.append(est.covariance[0, 0])
    quant = (4.0 * 0.5) ** 2 / 12
    assert (covs[1] - quant) / (covs[0] - quant) == pytest.approx(2.0, rel=0.05)


def test_temperature_defaults_to_model_json_posterior_temperature():
    loc = _localizer(model=FakeModel(meta=fake_meta(posterior_temperature=0.37)))
    assert loc.temperature == pytest.approx(0.37)
    loc = _localizer(model=FakeModel(meta=fake_meta(posterior_temperature=0.37)), posterior_temperature=2.0)
    assert loc.temperature == 2.0


def test_model_json_position_offset_is_subtracted_from_the_estimate():
    estimates = []
    for offset in (None, [2.0, -4.0]):
        meta = fake_meta(orientation=None) | ({"position_offset_rc_px": offset} if offset else {})
        loc = _localizer(model=FakeModel(meta=meta), fuse_gps_prior=False)
        estimates.append(loc.localize(render_panorama(0.0), panorama_camera(), _prior(*TRUTH_EN), 0.0))
    plain, moved = estimates
    assert math.hypot(plain.x_m - TRUTH_EN[0], plain.y_m - TRUTH_EN[1]) < 0.1
    # the model says it answers 2 px too far south and 4 px too far west: move north 1 m and east 2 m (0.5 m/px)
    assert (moved.x_m - plain.x_m, moved.y_m - plain.y_m) == pytest.approx((2.0, 1.0), abs=1e-6)
    np.testing.assert_allclose(moved.covariance, plain.covariance, atol=1e-9)
    assert moved.prob_origin_px == pytest.approx((0.0, 6.0))


def test_search_size_comes_from_model_json_or_config():
    tiles = FakeTileSource(marker_en=TRUTH_EN)
    loc = _localizer(tiles=tiles, search_size_px=192)
    est = loc.localize(render_panorama(0.0), panorama_camera(), _prior(*TRUTH_EN), 0.0)
    assert est.satellite.shape == (192, 192, 3) and est.prob.shape == (48, 48)
    assert math.hypot(est.x_m - TRUTH_EN[0], est.y_m - TRUTH_EN[1]) < 0.3
    with pytest.raises(ValueError):
        LocalizerConfig(search_size_px=100)


def test_partial_coverage_excludes_cells_without_imagery():
    tiles = FakeTileSource(marker_en=TRUTH_EN, max_east_m=TRUTH_EN[0] + 10.0)
    loc = _localizer(tiles=tiles, model=FakeModel(flat=True, meta=fake_meta(orientation=None)),
                     fuse_gps_prior=False)
    est = loc.localize(render_panorama(0.0), panorama_camera(), _prior(*TRUTH_EN), 0.0)
    assert est.x_m < TRUTH_EN[0] + 10.0 + 1.0
    _assert_spd(est.covariance)
    nearly_none = FakeTileSource(marker_en=TRUTH_EN, max_east_m=TRUTH_EN[0] - 28.0)
    with pytest.raises(CoverageError):
        _localizer(tiles=nearly_none).localize(render_panorama(0.0), panorama_camera(), _prior(*TRUTH_EN), 0.0)


def test_tile_server_down_raises_a_tile_error():
    loc = _localizer(tiles=FakeTileSource(down=True))
    with pytest.raises(TileServerDown):
        loc.localize(render_panorama(0.0), panorama_camera(), _prior(*TRUTH_EN), 0.0)


def test_datum_defaults_to_the_first_prior():
    loc = Localizer(LocalizerConfig(), model=FakeModel(), tile_source=FakeTileSource(marker_en=TRUTH_EN))
    prior = _prior(*TRUTH_EN)
    est = loc.localize(render_panorama(0.0), panorama_camera(), prior, 0.0)
    assert loc.datum == (prior.lat_deg, prior.lon_deg)
    assert math.hypot(est.x_m, est.y_m) < 0.3  # the camera is at the prior = the new origin


@pytest.mark.parametrize("image", [np.zeros((1, 1, 3), np.uint8), np.zeros((10, 10), np.uint8),
                                   np.zeros((0, 5, 3), np.uint8), np.full((4, 4, 3), np.nan, np.float32)])
def test_bad_images_raise_input_errors(image):
    with pytest.raises(LocalizerInputError):
        _localizer().localize(image, panorama_camera(), _prior(*TRUTH_EN), 0.0)


def test_huge_image_is_rejected_before_any_work():
    loc = _localizer(max_image_pixels=1000)
    with pytest.raises(LocalizerInputError, match="too large"):
        loc.localize(np.zeros((40, 40, 3), np.uint8), panorama_camera(), _prior(*TRUTH_EN), 0.0)


def test_bad_priors_and_camera_mismatch():
    with pytest.raises(LocalizerInputError):
        GpsPrior(float("nan"), 8.0)
    with pytest.raises(LocalizerInputError):
        GpsPrior(47.0, 8.0, np.full((2, 2), np.inf))
    with pytest.raises(LocalizerInputError):
        YawPrior(float("nan"))
    with pytest.raises(LocalizerInputError, match="camera is"):
        _localizer().localize(render_panorama(0.0), pinhole_camera(), _prior(*TRUTH_EN), 0.0)


def test_probability_overlay_is_an_rgb_image_over_the_patch():
    est = _localizer().localize(render_panorama(0.0), panorama_camera(), _prior(*TRUTH_EN), 0.0)
    overlay = probability_overlay(est)
    assert overlay.shape == est.satellite.shape and overlay.dtype == np.uint8
    # the hottest part of the overlay is where the camera is (the patch centre is the first prior)
    row, col = np.unravel_index(np.argmax(overlay[..., 0].astype(int) - overlay[..., 2]), overlay.shape[:2])
    er, ec = geometry.enu_to_patch_pixel(est.x_m, est.y_m, TRUTH_EN[0], TRUTH_EN[1], 0.5, est.satellite.shape[0])
    assert math.hypot(row + 0.5 - er, col + 0.5 - ec) < 6.0


class _CanvasRecorder(FakeModel):
    def __init__(self):
        super().__init__()
        self.grounds = []

    def match(self, ground, ground_mask, feats):
        self.grounds.append(np.array(ground[0].transpose(1, 2, 0)))
        return super().match(ground, ground_mask, feats)


@pytest.mark.parametrize("camera_kind", ["panorama", "pinhole"])
def test_attitude_levels_the_canvas_before_matching(camera_kind):
    from geodistill_ros.localizer import Attitude

    yaw, mount = math.radians(100.0), math.radians(10.0)
    image, camera = ((render_panorama(yaw + mount), panorama_camera()) if camera_kind == "panorama" else
                     (render_pinhole(yaw + mount), pinhole_camera()))
    runs = {}
    for name, attitude in (("none", None), ("zero", Attitude(0.0, 0.0)), ("tilted", Attitude(0.02, -0.03))):
        model = _CanvasRecorder()
        loc = _localizer(model=model, camera_yaw_rad=mount, refine_orientation=False)
        est = loc.localize(image, camera, _prior(*TRUTH_EN), yaw, attitude=attitude)
        assert math.hypot(est.x_m - TRUTH_EN[0], est.y_m - TRUTH_EN[1]) < 0.3
        runs[name] = model.grounds[0]
    np.testing.assert_array_equal(runs["none"], runs["zero"])
    expected, _ = ground_canvas(image, camera, yaw + mount, CANVAS_HW,
                                tilt=geometry.tilt_rotation(0.02, -0.03, mount))
    np.testing.assert_allclose(runs["tilted"], expected, atol=1e-6)
    assert np.abs(runs["tilted"] - runs["none"]).max() > 0.1


def test_bad_attitude_is_a_clear_input_error():
    from geodistill_ros.localizer import Attitude

    for roll, pitch in ((float("nan"), 0.0), (0.0, 2.0)):
        with pytest.raises(LocalizerInputError, match="attitude"):
            Attitude(roll, pitch)
    with pytest.raises(LocalizerInputError, match="Attitude"):
        _localizer().localize(render_panorama(0.0), panorama_camera(), _prior(*TRUTH_EN), 0.0, attitude=(0.1, 0.0))
