"""Evaluation metrics on a tiny hand-made trajectory whose errors are known exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest

from geodistill_ros import metrics
from geodistill_ros.geometry import wrap_angle

S = 1_000_000_000  # ns per second

# Four frames along the x axis; frame 3 has no estimate. Errors: (3, 4) -> 5 m, (0, 0.5) -> 0.5 m, (2, 0) -> 2 m.
TRUTH = np.array([[0.0, 0.0], [10.0, 0.0], [20.0, 0.0]])
EST = TRUTH + np.array([[3.0, 4.0], [0.0, 0.5], [2.0, 0.0]])
COV = np.tile(np.diag([4.0, 1.0]), (3, 1, 1))  # sigma_east 2 m, sigma_north 1 m


def test_position_and_yaw_errors():
    np.testing.assert_allclose(metrics.position_errors_m(EST, TRUTH), [5.0, 0.5, 2.0])
    yaw = metrics.yaw_errors_deg(np.radians([179.0, 10.0, 0.0]), np.radians([-179.0, 0.0, 0.0]))
    np.testing.assert_allclose(yaw, [2.0, 10.0, 0.0], atol=1e-9)
    with pytest.raises(ValueError):
        metrics.position_errors_m(EST, TRUTH[:2])


def test_nees_known_values_and_singular_covariance():
    err = EST - TRUTH
    np.testing.assert_allclose(metrics.nees(err, COV), [9 / 4 + 16, 0.25, 1.0])
    cov = COV.copy()
    cov[1] = 0.0
    out = metrics.nees(err, cov)
    assert math.isnan(out[1]) and out[0] == pytest.approx(18.25)


def test_summarize_exact_figures():
    yaw_err = metrics.yaw_errors_deg(np.radians([179.0, 10.0, 0.0]), np.radians([-179.0, 0.0, 0.0]))
    fig = metrics.summarize(metrics.position_errors_m(EST, TRUTH), frames=4, yaw_err_deg=yaw_err,
                            nees_values=metrics.nees(EST - TRUTH, COV), latency_s=[0.1, 0.2, 0.3])
    assert fig["frames"] == 4 and fig["localized"] == 3 and fig["localized_share"] == 0.75
    assert fig["mean_m"] == pytest.approx(2.5)
    assert fig["median_m"] == pytest.approx(2.0)
    assert fig["rmse_m"] == pytest.approx(math.sqrt((25 + 0.25 + 4) / 3))
    assert fig["max_m"] == pytest.approx(5.0)
    # recall counts the frame without an estimate as a miss; the 5 m error is within 5 m
    assert (fig["recall_1m"], fig["recall_3m"], fig["recall_5m"]) == (0.25, 0.5, 0.75)
    assert fig["yaw_mean_deg"] == pytest.approx(4.0) and fig["yaw_median_deg"] == pytest.approx(2.0)
    assert fig["nees_mean"] == pytest.approx((18.25 + 0.25 + 1.0) / 3)
    assert fig["in_95_ellipse"] == pytest.approx(2 / 3)  # 18.25 > 5.99 is outside
    assert fig["latency_mean_ms"] == pytest.approx(200.0)
    assert fig["latency_median_ms"] == pytest.approx(200.0)
    assert fig["latency_p95_ms"] == pytest.approx(290.0)
    assert metrics.short_summary(fig) == {k: fig[k] for k in metrics.SUMMARY_KEYS}


def test_summarize_empty_and_missing_inputs():
    fig = metrics.summarize([], frames=5)
    assert fig["localized"] == 0 and fig["recall_5m"] == 0.0
    assert fig["mean_m"] is None and fig["in_95_ellipse"] is None and fig["latency_mean_ms"] is None
    with pytest.raises(ValueError):
        metrics.summarize([1.0, 2.0], frames=1)


def test_chi2_threshold_matches_the_gaussian_95_percent_ellipse():
    # For a 2-D Gaussian, P(NEES <= k) = 1 - exp(-k / 2); at the threshold that is 0.95.
    assert 1.0 - math.exp(-metrics.CHI2_2DOF_95 / 2.0) == pytest.approx(0.95)
    rng = np.random.default_rng(0)
    cov = np.array([[4.0, 1.5], [1.5, 2.0]])
    err = rng.multivariate_normal([0.0, 0.0], cov, size=20000)
    share = np.mean(metrics.nees(err, np.tile(cov, (len(err), 1, 1))) <= metrics.CHI2_2DOF_95)
    assert share == pytest.approx(0.95, abs=0.01)


def test_interpolate_pose_linear_yaw_unwrapped_and_validity():
    t = np.array([0, 1, 2, 10]) * S + 5 * S
    east, north = [0.0, 10.0, 20.0, 30.0], [0.0, 0.0, 10.0, 10.0]
    yaw = np.radians([170.0, -170.0, -170.0, -170.0])
    q = np.array([0.5 * S, 1.5 * S, 2.0 * S, -1 * S, 6 * S, 11 * S]) + 5 * S
    en, yaw_q, valid = metrics.interpolate_pose(q, t, east, north, yaw, max_gap_s=1.5)
    assert valid.tolist() == [True, True, True, False, False, False]  # before start; 8 s gap; after end
    np.testing.assert_allclose(en[:3], [[5.0, 0.0], [15.0, 5.0], [20.0, 10.0]])
    # halfway between 170 and -170 (through 180), not through 0
    assert abs(math.degrees(wrap_angle(yaw_q[0] - math.pi))) < 1e-9
    assert np.isnan(en[3:]).all() and np.isnan(yaw_q[3:]).all()


def test_latest_before():
    t = np.array([10, 20, 30])
    assert metrics.latest_before([5, 10, 25, 30, 99], t).tolist() == [0, 0, 1, 2, 2]
    with pytest.raises(ValueError):
        metrics.latest_before([1], [3, 2])
