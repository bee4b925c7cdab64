"""Vehicle trajectories along a world's roads, with drifting wheel odometry, a noisy GPS and a heading sensor.

Ground-truth poses are in the ENU ``map`` frame (yaw CCW from east). The route follows right-hand lanes, turns
at junctions, U-turns at dead ends and world borders; speed wanders in 5..15 m/s and slows for curves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.spatial import cKDTree

from .. import geometry as geo
from .layout import resample_polyline
from .world import World


@dataclass
class SensorConfig:
    rate_hz: float = 5.0  # camera, odometry, IMU
    gps_rate_hz: float = 2.0
    gps_sigma_m: float = 5.0  # total horizontal sigma: slowly wandering bias + white noise
    gps_bias_tau_s: float = 60.0
    gps_dropout_per_min: float = 0.5
    gps_dropout_s: tuple = (2.0, 8.0)
    heading_sigma_deg: float = 3.0
    odom_scale_sigma: float = 0.02
    odom_yaw_rate_bias_sigma: float = 0.004  # rad/s
    speed_min: float = 5.0
    speed_max: float = 15.0


@dataclass
class Trajectory:
    t: np.ndarray  # [T] s from start
    east: np.ndarray
    north: np.ndarray
    yaw: np.ndarray  # rad ENU
    speed: np.ndarray  # m/s
    yaw_rate: np.ndarray  # rad/s
    odom_x: np.ndarray  # odom frame (starts at 0, 0, 0), drifting
    odom_y: np.ndarray
    odom_yaw: np.ndarray
    heading_meas: np.ndarray  # absolute ENU yaw measurement
    gps_t: np.ndarray
    gps_east: np.ndarray
    gps_north: np.ndarray
    gps_status: np.ndarray  # NavSatStatus: 0 fix, -1 no fix
    gps_sigma: np.ndarray


def _route(world: World, length_m: float, rng: np.random.Generator, margin_m: float = 15.0) -> np.ndarray:
    """A lane-following polyline (ENU, 1 m spacing) of about ``length_m``."""
    roads = [r for r in world.roads if r.kind != "track"]
    polys = [resample_polyline(r.points, 1.0) for r in roads]
    all_pts = np.concatenate([p[0] for p in polys])
    owner = np.concatenate([np.full(len(p[0]), i) for i, p in enumerate(polys)])
    index = np.concatenate([np.arange(len(p[0])) for p in polys])
    tree = cKDTree(all_pts)
    half = world.size_m / 2 - margin_m

    def inside(p):
        return abs(p[0]) < half and abs(p[1]) < half

    # start: a random in-world centreline point
    for _ in range(1000):
        ri = int(rng.integers(len(polys)))
        k = int(rng.integers(len(polys[ri][0])))
        if inside(polys[ri][0][k]):
            break
    else:
        raise ValueError("no road inside the world")
    direction = int(rng.choice([-1, 1]))
    out, last_turn = [], -100.0
    travelled = 0.0
    while travelled < length_m:
        pts, _, t, nrm = polys[ri]
        lane = roads[ri].width_m / 4.0 if roads[ri].lanes < 4 else roads[ri].width_m * 3 / 8
        p = pts[k] - direction * nrm[k] * lane
        out.append(p)
        travelled += 1.0
        nk = k + direction
        if nk < 0 or nk >= len(pts) or not inside(pts[nk]):
            # U-turn: a left half-circle from this lane to the opposite one, bulging forward (no cusp)
            fwd, left = direction * t[k], direction * nrm[k]
            n_arc = max(3, int(math.ceil(math.pi * lane)))
            for th in np.linspace(0.0, math.pi, n_arc + 1)[1:-1]:
                out.append(pts[k] + lane * (-left * math.cos(th) + fwd * math.sin(th)))
            travelled += math.pi * lane
            direction = -direction
            last_turn = travelled
            continue
        k = nk
        if travelled - last_turn > 25.0:
            near = tree.query_ball_point(pts[k], r=1.0)
            heading_now = direction * t[k]
            # turn onto a crossing road, never back the way we came (that would be a cusp, not a turn)
            cands = [(int(owner[j]), int(index[j]), d) for j in near if owner[j] != ri for d in (-1, 1)
                     if float(np.dot(d * polys[int(owner[j])][2][int(index[j])], heading_now)) > -0.3]
            if cands and rng.random() < 0.5:
                ri, k, direction = cands[int(rng.integers(len(cands)))]
                last_turn = travelled
    path = np.asarray(out)
    # round the corners
    path = np.stack([gaussian_filter1d(path[:, 0], 3.0, mode="nearest"),
                     gaussian_filter1d(path[:, 1], 3.0, mode="nearest")], 1)
    return path


def make_trajectory(world: World, n_frames: int, cfg: SensorConfig | None = None, seed: int = 0) -> Trajectory:
    cfg = cfg or SensorConfig()
    rng = np.random.default_rng([seed, 3])
    dt = 1.0 / cfg.rate_hz
    duration = (n_frames - 1) * dt
    path = _route(world, max(50.0, duration * cfg.speed_max * 1.2 + 20), rng)
    seg = np.hypot(*np.diff(path, axis=0).T)
    s_path = np.concatenate([[0.0], np.cumsum(seg)])
    # curvature-limited wandering speed profile
    heading = np.unwrap(np.arctan2(np.gradient(path[:, 1]), np.gradient(path[:, 0])))
    curv = np.abs(np.gradient(heading, s_path, edge_order=1)) + 1e-6
    vmax_curve = np.sqrt(2.5 / curv)
    t = np.arange(n_frames) * dt
    target = cfg.speed_min + (cfg.speed_max - cfg.speed_min) * (0.5 + 0.5 * np.sin(
        2 * np.pi * t / rng.uniform(20, 40) + rng.uniform(0, 6)))
    s = np.zeros(n_frames)
    v = np.zeros(n_frames)
    for i in range(n_frames):
        vc = float(np.interp(s[i - 1] if i else 0.0, s_path, vmax_curve)) if i else target[0]
        v[i] = float(np.clip(min(target[i], vc), cfg.speed_min, cfg.speed_max))
        if i:
            s[i] = min(s[i - 1] + 0.5 * (v[i] + v[i - 1]) * dt, s_path[-1])
    east = np.interp(s, s_path, path[:, 0])
    north = np.interp(s, s_path, path[:, 1])
    yaw_u = np.interp(s, s_path, heading)
    yaw = geo.wrap_angle(yaw_u)
    yaw_rate = np.gradient(yaw_u, dt) if n_frames > 1 else np.zeros(1)
    # wheel odometry: scale error + yaw-rate bias + noise, integrated from (0, 0, 0)
    scale = 1.0 + rng.normal(0, cfg.odom_scale_sigma)
    bias = rng.normal(0, cfg.odom_yaw_rate_bias_sigma)
    v_m = v * scale + rng.normal(0, 0.05, n_frames)
    w_m = yaw_rate + bias + rng.normal(0, 0.005, n_frames)
    ox, oy, oyaw = np.zeros(n_frames), np.zeros(n_frames), np.zeros(n_frames)
    for i in range(1, n_frames):
        oyaw[i] = oyaw[i - 1] + w_m[i - 1] * dt
        ox[i] = ox[i - 1] + v_m[i - 1] * dt * math.cos(oyaw[i - 1] + 0.5 * w_m[i - 1] * dt)
        oy[i] = oy[i - 1] + v_m[i - 1] * dt * math.sin(oyaw[i - 1] + 0.5 * w_m[i - 1] * dt)
    heading_meas = geo.wrap_angle(yaw + rng.normal(0, math.radians(cfg.heading_sigma_deg), n_frames))
    # GPS: OU bias (sigma_b) + white noise (sigma_w), sigma_b^2 + sigma_w^2 = sigma^2
    gps_t = np.arange(0.0, duration + 1e-9, 1.0 / cfg.gps_rate_hz)
    sb, sw = cfg.gps_sigma_m * 0.8, cfg.gps_sigma_m * 0.6
    gdt = 1.0 / cfg.gps_rate_hz
    a = math.exp(-gdt / cfg.gps_bias_tau_s)
    b = np.zeros((len(gps_t), 2))
    b[0] = rng.normal(0, sb, 2)
    for i in range(1, len(gps_t)):
        b[i] = a * b[i - 1] + math.sqrt(1 - a * a) * rng.normal(0, sb, 2)
    ge = np.interp(gps_t, t, east) + b[:, 0] + rng.normal(0, sw, len(gps_t))
    gn = np.interp(gps_t, t, north) + b[:, 1] + rng.normal(0, sw, len(gps_t))
    status = np.zeros(len(gps_t), np.int8)
    n_drop = rng.poisson(cfg.gps_dropout_per_min * duration / 60.0)
    for _ in range(n_drop):
        t0 = rng.uniform(0, duration)
        status[(gps_t >= t0) & (gps_t < t0 + rng.uniform(*cfg.gps_dropout_s))] = -1
    return Trajectory(t, east, north, yaw, v, yaw_rate, ox, oy, oyaw, heading_meas, gps_t, ge, gn, status,
                      np.full(len(gps_t), cfg.gps_sigma_m))
