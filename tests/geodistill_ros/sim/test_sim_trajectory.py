"""Trajectories: on the roads at 5-15 m/s with exact poses; odometry drifts; GPS noise, covariance and dropouts."""

import math

import numpy as np
import pytest

from geodistill_ros import geometry as geo
from geodistill_ros.sim import World
from geodistill_ros.sim import layout as L
from geodistill_ros.sim.trajectory import SensorConfig, make_trajectory

ROAD = [L.ASPHALT, L.MARK_WHITE, L.MARK_YELLOW]


@pytest.fixture(scope="module")
def world():
    return World.generate(seed=5, style="downtown", size_m=300)


@pytest.fixture(scope="module")
def traj(world):
    return make_trajectory(world, 600, SensorConfig(gps_sigma_m=6.0, gps_dropout_per_min=3.0), seed=1)


def test_poses_follow_the_roads_at_vehicle_speeds(world, traj):
    assert len(traj.t) == 600 and np.allclose(np.diff(traj.t), 0.2)
    assert traj.speed.min() >= 5.0 and traj.speed.max() <= 15.0 and traj.speed.std() > 0.5
    chord = np.hypot(np.diff(traj.east), np.diff(traj.north)) / 0.2  # < speed only in tight turns (U-turns)
    assert chord.max() < 15.5 and np.mean(chord > 4.5) > 0.97
    # no heading jumps (the tightest case is a U-turn at the 5 m/s minimum speed)
    assert np.degrees(np.abs(geo.wrap_angle(np.diff(traj.yaw)))).max() < 90.0
    rows, cols = geo.enu_to_patch_pixel(traj.east, traj.north, 0.0, 0.0, world.meters_per_pixel, world.size_px)
    cls = np.asarray(world.scene["cls"])[rows.astype(int), cols.astype(int)]
    assert np.isin(cls, ROAD).mean() > 0.95
    assert (np.asarray(world.scene["bld_id"])[rows.astype(int), cols.astype(int)] == 0).all()
    # yaw is the direction of travel, and the path turns
    move_yaw = np.arctan2(np.diff(traj.north), np.diff(traj.east))
    mid_yaw = traj.yaw[:-1] + 0.5 * geo.wrap_angle(traj.yaw[1:] - traj.yaw[:-1])
    yaw_err = np.degrees(np.abs(geo.wrap_angle(move_yaw - mid_yaw)))
    assert np.percentile(yaw_err, 98) < 3.0 and yaw_err.max() < 40.0  # the chord lags only in U-turns
    assert np.ptp(np.unwrap(traj.yaw)) > math.radians(80)


def test_odometry_starts_at_zero_and_drifts(traj):
    assert traj.odom_x[0] == traj.odom_y[0] == traj.odom_yaw[0] == 0.0
    # odometry expressed in the map frame through the true start pose
    c, s = math.cos(traj.yaw[0]), math.sin(traj.yaw[0])
    oe = traj.east[0] + c * traj.odom_x - s * traj.odom_y
    on = traj.north[0] + s * traj.odom_x + c * traj.odom_y
    err = np.hypot(oe - traj.east, on - traj.north)
    dist = np.sum(np.hypot(np.diff(traj.east), np.diff(traj.north)))
    assert err[:10].max() < 1.0  # locally consistent
    assert 0.2 < err[-1] < 0.2 * dist  # but drifting


def test_gps_noise_covariance_and_dropouts(traj):
    assert np.allclose(np.diff(traj.gps_t), 0.5)
    ok = traj.gps_status >= 0
    assert 0.5 < ok.mean() < 1.0  # dropouts happen but are not the rule
    te = np.interp(traj.gps_t, traj.t, traj.east)
    tn = np.interp(traj.gps_t, traj.t, traj.north)
    err = np.hypot(traj.gps_east - te, traj.gps_north - tn)[ok]
    rms_axis = math.sqrt(np.mean(err**2) / 2.0)
    assert 2.0 < rms_axis < 12.0, rms_axis  # sigma 6 m per axis, a wandering bias makes it vary
    assert (traj.gps_sigma == 6.0).all()
    heading_err = np.degrees(geo.wrap_angle(traj.heading_meas - traj.yaw))
    assert 1.5 < heading_err.std() < 5.0


def test_trajectory_is_reproducible(world, traj):
    again = make_trajectory(world, 600, SensorConfig(gps_sigma_m=6.0, gps_dropout_per_min=3.0), seed=1)
    assert np.array_equal(again.east, traj.east) and np.array_equal(again.gps_north, traj.gps_north)
    other = make_trajectory(world, 600, SensorConfig(gps_sigma_m=6.0, gps_dropout_per_min=3.0), seed=2)
    assert not np.array_equal(other.east, traj.east)
