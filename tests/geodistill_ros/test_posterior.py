"""Posterior from logits: known peaks, sub-cell refinement, covariance, calibration helpers."""

import numpy as np
import pytest

from geodistill_ros import posterior as P


def _gaussian_logits(shape, center_ij, sigma_cells, scale=1.0):
    i = np.arange(shape[0])[:, None]
    j = np.arange(shape[1])[None, :]
    return -scale * ((i - center_ij[0]) ** 2 + (j - center_ij[1]) ** 2) / (2 * sigma_cells**2)


def test_peak_maps_to_the_right_pixel_and_enu():
    logits = _gaussian_logits((40, 40), (10, 30), 1.0)
    post = P.posterior_from_logits(logits, 1.0, prob_origin_px=2.0, prob_stride_px=4.0, meters_per_pixel=0.2,
                                   patch_size_px=160)
    assert post.row_px == pytest.approx(2 + 4 * 10) and post.col_px == pytest.approx(2 + 4 * 30)
    assert post.east_m == pytest.approx((122 - 80) * 0.2)
    assert post.north_m == pytest.approx(-(42 - 80) * 0.2)


def test_per_axis_origin_applies_the_calibrated_offset():
    meta = {"prob_origin_px": 2.0, "position_offset_rc_px": [0.75, -1.5]}
    assert P.prob_origin_rc(meta) == (1.25, 3.5)
    assert P.prob_origin_rc({"prob_origin_px": 2.0}) == (2.0, 2.0)  # older models: no offset
    with pytest.raises(ValueError, match="two finite numbers"):
        P.prob_origin_rc({"prob_origin_px": 2.0, "position_offset_rc_px": [float("nan"), 0.0]})
    logits = _gaussian_logits((40, 40), (10, 30), 1.0)
    plain = P.posterior_from_logits(logits, 1.0, 2.0, 4.0, 0.2, 160)
    moved = P.posterior_from_logits(logits, 1.0, P.prob_origin_rc(meta), 4.0, 0.2, 160)
    assert (moved.row_px, moved.col_px) == pytest.approx((plain.row_px - 0.75, plain.col_px + 1.5))
    assert (moved.east_m - plain.east_m, moved.north_m - plain.north_m) == pytest.approx((1.5 * 0.2, 0.75 * 0.2))
    np.testing.assert_allclose(moved.cov_en_m2, plain.cov_en_m2)  # a shift changes no spread
    rows, cols = P.cell_centers_px((2, 3), (1.25, 3.5), 4.0)
    np.testing.assert_allclose(rows.ravel(), [1.25, 5.25])
    np.testing.assert_allclose(cols.ravel(), [3.5, 7.5, 11.5])


def test_sub_cell_refinement_recovers_fractional_peak():
    logits = _gaussian_logits((21, 21), (10.3, 9.75), 1.5)
    post = P.posterior_from_logits(logits, 1.0, 0.0, 1.0, 1.0, 21)
    assert post.row_px == pytest.approx(10.3, abs=1e-6) and post.col_px == pytest.approx(9.75, abs=1e-6)


def test_covariance_matches_a_gaussian_map():
    sigma = 3.0  # cells
    logits = _gaussian_logits((81, 81), (40, 40), sigma)
    post = P.posterior_from_logits(logits, 1.0, 0.0, 2.0, 0.5, 162)
    expected = (sigma * 2.0 * 0.5) ** 2 + (2.0**2 / 12) * 0.25
    np.testing.assert_allclose(np.diag(post.cov_en_m2), [expected, expected], rtol=1e-3)
    assert abs(post.cov_en_m2[0, 1]) < 1e-9
    assert post.prob.sum() == pytest.approx(1.0)


def test_correlated_map_gives_east_north_sign():
    # mass along the row=col diagonal: south-east / north-west, i.e. east and north anti-correlated
    logits = np.full((31, 31), -50.0)
    for k in range(31):
        logits[k, k] = 0.0
    post = P.posterior_from_logits(logits, 1.0, 0.0, 1.0, 1.0, 31)
    assert post.cov_en_m2[0, 1] < 0


def test_temperature_widens_and_prior_shifts():
    logits = _gaussian_logits((41, 41), (20, 20), 2.0)
    sharp = P.posterior_from_logits(logits, 0.5, 0.0, 1.0, 1.0, 41)
    wide = P.posterior_from_logits(logits, 2.0, 0.0, 1.0, 1.0, 41)
    assert np.trace(wide.cov_en_m2) > np.trace(sharp.cov_en_m2)
    flat = np.zeros((41, 41))
    prior = P.gaussian_log_prior((41, 41), 0.0, 1.0, (5.0, 30.0), np.eye(2) * 4.0)
    post = P.posterior_from_logits(flat, 1.0, 0.0, 1.0, 1.0, 41, log_prior=prior)
    assert (post.row_px, post.col_px) == (pytest.approx(5.0), pytest.approx(30.0))


def test_bad_logits_raise():
    with pytest.raises(ValueError, match="NaN"):
        P.posterior_from_logits(np.full((3, 3), np.nan), 1.0, 0.0, 1.0, 1.0, 3)
    with pytest.raises(ValueError, match="temperature"):
        P.softmax2d(np.zeros((2, 2)), 0.0)


def test_mahalanobis_and_nll():
    cov = np.diag([4.0, 1.0])
    assert P.mahalanobis2(np.array([2.0, 1.0]), cov) == pytest.approx(2.0)
    nll = P.gaussian_nll_2d(np.zeros(2), np.eye(2))
    assert nll == pytest.approx(np.log(2 * np.pi))
    assert P.CHI2_2DOF_95 == pytest.approx(5.991, abs=1e-3)
