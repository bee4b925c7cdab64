"""The GPS rules shared by the node (:mod:`geodistill_ros.ros_conversions`) and ``eval-bag``, on any
``NavSatFix``-like object (an rclpy message or a rosbags one): no ROS import here.

A fix is usable when its status is at least ``STATUS_FIX`` and its latitude / longitude are finite; its ENU
(east, north) covariance is the message's when known, finite and positive on the diagonal (symmetrised), else
``default_sigma_m`` per axis.
"""

from __future__ import annotations

import math

import numpy as np

STATUS_FIX = 0  # sensor_msgs/NavSatStatus.STATUS_FIX
COVARIANCE_TYPE_UNKNOWN = 0  # sensor_msgs/NavSatFix.COVARIANCE_TYPE_UNKNOWN
DEFAULT_GPS_SIGMA_M = 5.0  # per axis, when a fix carries no usable covariance


def fix_problem(msg) -> str | None:
    """Why ``msg`` is not a usable fix (no fix, non-finite position), or None when it is."""
    if int(msg.status.status) < STATUS_FIX:
        return f"GPS has no fix (status {msg.status.status})"
    lat, lon = float(msg.latitude), float(msg.longitude)
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return f"GPS fix is not finite: lat {lat}, lon {lon}"
    return None


def has_fix(msg) -> bool:
    """A fix (status >= STATUS_FIX) with a finite position, as the node requires."""
    return fix_problem(msg) is None


def navsat_cov_en(msg, default_sigma_m: float = DEFAULT_GPS_SIGMA_M) -> np.ndarray:
    """ENU (east, north) 2x2 covariance in m^2 of a fix (``default_sigma_m`` per axis when unknown or invalid)."""
    if int(msg.position_covariance_type) != COVARIANCE_TYPE_UNKNOWN:
        cov = np.asarray(msg.position_covariance, np.float64).reshape(3, 3)[:2, :2]
        if np.all(np.isfinite(cov)) and cov[0, 0] > 0 and cov[1, 1] > 0:
            return 0.5 * (cov + cov.T)
    return np.eye(2) * default_sigma_m**2
