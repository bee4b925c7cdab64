"""VIGOR-layout dataset, rosbag2 writer, world folder with tiles, determinism."""

import csv
import json
import math
import sqlite3

import cv2
import numpy as np
import pytest
import yaml
from rosbags.rosbag2 import Reader

from geodistill_ros import bagio
from geodistill_ros import geometry as geo
from geodistill_ros.sim import World
from geodistill_ros.sim.bag import WORLD_JSON, BagConfig, write_bag
from geodistill_ros.sim.dataset import LABEL_ALL, LABEL_TEST, LABEL_TRAIN, SPLITS, DatasetConfig, write_vigor_dataset
from geodistill_ros.sim.trajectory import make_trajectory
from geodistill_ros.sim.worldio import write_world_folder


@pytest.fixture(scope="module")
def world():
    return World.generate(seed=2, style="downtown", size_m=200)


def test_generate_is_deterministic(world):
    again = World.generate(seed=2, style="downtown", size_m=200)
    for k in ("ground_rgb", "sat_rgb", "solid_h", "canopy_top"):
        assert np.array_equal(world.scene[k], again.scene[k]), k
    other = World.generate(seed=3, style="downtown", size_m=200)
    assert not np.array_equal(world.scene["sat_rgb"], other.scene["sat_rgb"])


def test_gap_switches_change_only_the_satellite_time(world):
    nogap = World.generate(seed=2, style="downtown", size_m=200, gap=False)
    assert np.array_equal(world.scene["cls"], nogap.scene["cls"])  # same layout
    assert np.array_equal(world.scene["ground_rgb"], nogap.scene["ground_rgb"])
    diff = np.abs(world.scene["sat_rgb"].astype(int) - nogap.scene["sat_rgb"].astype(int)).mean()
    assert diff > 10


def _dataset(tmp_path, name, world, workers=2):
    cfg = DatasetConfig(n_per_city=6, pano_height=64, pano_width=128, pinhole_width=64, pinhole_height=48,
                        workers=workers, seed=5)
    write_vigor_dataset(tmp_path / name, [world], cfg, progress=False)
    return tmp_path / name


def test_vigor_dataset_layout_and_offsets(tmp_path, world):
    root = _dataset(tmp_path, "ds", world)
    city = "Downtown2"
    lines = (root / SPLITS / city / LABEL_ALL).read_text().splitlines()
    train = (root / SPLITS / city / LABEL_TRAIN).read_text().splitlines()
    test = (root / SPLITS / city / LABEL_TEST).read_text().splitlines()
    assert len(lines) == 6 and sorted(train + test) == sorted(lines) and test
    sats = set((root / SPLITS / city / "satellite_list.txt").read_text().split())
    meta = json.loads((root / city / "meta.json").read_text())
    assert meta["meters_per_pixel"] == 0.1 and meta["camera_height_m"] == 2.0 and meta["seed"] == 2
    with open(root / city / "poses.csv", newline="") as f:
        poses = {r["panorama"]: r for r in csv.DictReader(f)}
    for line in lines:
        parts = line.split()
        pano = parts[0]
        assert (root / city / "panorama" / pano).is_file() and pano.endswith(",.jpg")
        _, lat, lon, _ = pano.split(",")
        true_e, true_n = world.latlon_to_enu(float(lat), float(lon))
        rec = poses[pano]
        assert abs(float(rec["east_m"]) - true_e) < 0.01 and abs(float(rec["north_m"]) - true_n) < 0.01
        for k in range(4):
            sat, d0, d1 = parts[1 + 3 * k], float(parts[2 + 3 * k]), float(parts[3 + 3 * k])
            assert sat in sats and (root / city / "satellite" / sat).is_file()
            slat, slon = (float(x) for x in sat[len("satellite_"):-len(".png")].split("_"))
            ce, cn = world.latlon_to_enu(slat, slon)
            row, col = geo.vigor_offsets_to_pixel(d0, d1, 640)  # the camera per the label
            e, n = geo.patch_pixel_to_enu(row, col, ce, cn, 0.1, 640)
            assert math.hypot(e - true_e, n - true_n) < 0.01
            inner = max(abs(d0), abs(d1)) <= 160
            assert inner == (k == 0), (k, d0, d1)  # positive in the central half, semi-positives outside it
            assert max(abs(d0), abs(d1)) < 320
        # the positive satellite image is the patch rendered at its centre
        img = cv2.cvtColor(cv2.imread(str(root / city / "satellite" / parts[1])), cv2.COLOR_BGR2RGB)
        slat, slon = (float(x) for x in parts[1][len("satellite_"):-len(".png")].split("_"))
        ce, cn = world.latlon_to_enu(slat, slon)
        assert np.abs(img.astype(int) - world.satellite_patch(ce, cn, 640, 0.1).astype(int)).max() <= 1


def test_dataset_is_reproducible(tmp_path, world):
    a = _dataset(tmp_path, "a", world)
    b = _dataset(tmp_path, "b", world)
    fa = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    fb = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert fa == fb and len(fa) > 20
    for rel in fa:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    with pytest.raises(Exception, match="already exists"):
        _dataset(tmp_path, "a", world)


@pytest.mark.parametrize("storage,camera,compressed", [("mcap", "panorama", False), ("sqlite3", "pinhole", True)])
def test_bag_reads_back(tmp_path, world, storage, camera, compressed):
    cfg = BagConfig(frames=6, camera=camera, pano_height=64, pano_width=128, pinhole_width=80, pinhole_height=60,
                    compressed=compressed, storage=storage, seed=4)
    out = tmp_path / "bag"
    write_bag(world, out, cfg, progress=False, world_dir=tmp_path)
    info = json.loads((out / WORLD_JSON).read_text())
    assert info["origin_lat"] == world.origin_lat and info["world_dir"] == str(tmp_path.resolve())
    traj = make_trajectory(world, 6, seed=4)
    frames = {"/odom": "odom", "/ground_truth/pose": "map", "/imu/data": "imu_link", "/gps/fix": "gps_link",
              "/camera/camera_info": "camera_link"}
    img_topic = "/camera/image_raw/compressed" if compressed else "/camera/image_raw"
    seen = {}
    # what `ros2 bag info` reads: metadata.yaml, format version 8, the storage plugin, every topic and count
    meta = yaml.safe_load((out / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["version"] == 8 and meta["storage_identifier"] == storage
    assert {t["topic_metadata"]["name"] for t in meta["topics_with_message_count"]} == set(frames) | {img_topic}
    with Reader(out) as reader:  # the rosbags library itself
        assert reader.message_count == sum(t["message_count"] for t in meta["topics_with_message_count"])
        assert {c.topic: c.msgtype for c in reader.connections}["/ground_truth/pose"] == \
            "geometry_msgs/msg/PoseWithCovarianceStamped"
    with bagio.open_reader(out) as reader:
        for topic, msgtype, t_ns, raw in bagio.iter_messages(reader):
            msg = bagio.deserialize(raw, msgtype)
            seen.setdefault(topic, []).append(msg)
            assert bagio.header_stamp_ns(raw) == t_ns
            if topic in frames:
                assert msg.header.frame_id == frames[topic]
    assert set(seen) == set(frames) | {img_topic}
    gt = seen["/ground_truth/pose"]
    assert len(gt) == 6 and len(seen[img_topic]) == 6
    for i, m in enumerate(gt):
        p = m.pose.pose
        assert p.position.x == pytest.approx(traj.east[i]) and p.position.y == pytest.approx(traj.north[i])
        yaw = geo.yaw_from_quaternion(p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w)
        assert yaw == pytest.approx(traj.yaw[i], abs=1e-9)
    m = seen[img_topic][2]
    if camera == "panorama":
        want = world.render_panorama(traj.east[2], traj.north[2], traj.yaw[2], 64, 128)
    else:
        want = world.render_pinhole(traj.east[2], traj.north[2], traj.yaw[2], 80, 60, 40.0, 40.0, 40.0, 30.0)
    if compressed:
        got = cv2.cvtColor(cv2.imdecode(np.asarray(m.data), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        assert np.abs(got.astype(int) - want.astype(int)).mean() < 8
    else:
        assert m.encoding == "rgb8" and np.array_equal(np.asarray(m.data).reshape(want.shape), want)
    ci = seen["/camera/camera_info"][0]
    assert ci.distortion_model == ("equirectangular" if camera == "panorama" else "plumb_bob")
    if camera == "pinhole":  # 90 deg HFoV at 80 px: fx = fy = 40, principal point at the centre
        assert np.allclose(ci.k, [40, 0, 40, 0, 40, 30, 0, 0, 1]) and (ci.width, ci.height) == (80, 60)
    else:
        assert (ci.width, ci.height) == (128, 64) and not np.any(ci.k)
    # GPS fixes: the trajectory's noisy positions (exact to the datum), covariance = sigma^2, NaN without a fix
    fixes = seen["/gps/fix"]
    assert len(fixes) == len(traj.gps_t)
    for i, fx in enumerate(fixes):
        if traj.gps_status[i] < 0:
            assert fx.status.status == -1 and math.isnan(fx.latitude)
            continue
        e, n = world.latlon_to_enu(fx.latitude, fx.longitude)
        assert math.hypot(e - traj.gps_east[i], n - traj.gps_north[i]) < 0.01
        assert fx.position_covariance[0] == pytest.approx(traj.gps_sigma[i] ** 2)
    speeds = np.hypot(np.diff(traj.east), np.diff(traj.north)) * 5.0
    assert speeds.min() > 4.0 and speeds.max() < 16.0


def test_world_folder_tiles_and_mbtiles(tmp_path):
    w = World.generate(seed=4, style="rural", size_m=60)
    out = write_world_folder(w, tmp_path / "w", tiles=True)
    meta = json.loads((out / "world.json").read_text())
    for k in ("origin_lat", "origin_lon", "size_m", "meters_per_pixel", "style", "seed", "gap", "tiles", "mbtiles"):
        assert k in meta
    z = meta["tiles"]["max_zoom"]
    assert geo.mercator_meters_per_pixel(w.origin_lat, z) <= 0.15 < geo.mercator_meters_per_pixel(w.origin_lat,
                                                                                                    z - 1)
    # lat/lon <-> tile <-> ENU round trip within 1 cm
    for e, n in ((0.0, 0.0), (12.3, -20.1), (-25.0, 17.5)):
        lat, lon = w.enu_to_latlon(e, n)
        px, py = geo.latlon_to_world_pixel(lat, lon, z)
        tx, ty = geo.latlon_to_tile(float(lat), float(lon), z)
        assert (tx, ty) == (int(px // 256), int(py // 256))
        lat2, lon2 = geo.world_pixel_to_latlon(px, py, z)
        e2, n2 = w.latlon_to_enu(lat2, lon2)
        assert math.hypot(e2 - e, n2 - n) < 0.01
        tile = out / "tiles" / str(z) / str(tx) / f"{ty}.png"
        assert tile.is_file()
        # the tile pixel holding the point shows the orthophoto there
        t = cv2.cvtColor(cv2.imread(str(tile)), cv2.COLOR_BGR2RGB).astype(int)
        r, c = geo.enu_to_patch_pixel(e, n, 0, 0, w.meters_per_pixel, w.size_px)
        ref = w.satellite_image[int(r) - 1:int(r) + 2, int(c) - 1:int(c) + 2].reshape(-1, 3).astype(int)
        got = t[int(py % 256), int(px % 256)]
        assert np.abs(ref - got).sum(1).min() < 40
    # MBTiles holds the same bytes as the folder
    con = sqlite3.connect(out / meta["mbtiles"])
    rows = con.execute("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles").fetchall()
    con.close()
    assert rows
    for zz, x, y_tms, data in rows[:20]:
        assert (out / "tiles" / str(zz) / str(x) / f"{geo.tms_row(y_tms, zz)}.png").read_bytes() == bytes(data)
    assert (out / "overview.png").is_file()
    w2 = World.load(out)
    assert np.array_equal(w2.render_panorama(1, 2, 0.5, 64, 128), w.render_panorama(1, 2, 0.5, 64, 128))


def test_training_vigor_loader_reads_the_dataset(tmp_path, world):
    """The contract with training: its VIGOR loader reads our layout unchanged (labels, scale, positives)."""
    from training.datasets.vigor import read_records

    root = _dataset(tmp_path, "ds", world, workers=1)
    poses = {}
    with open(root / "Downtown2" / "poses.csv", newline="") as f:
        for r in csv.DictReader(f):
            poses[r["panorama"]] = (float(r["east_m"]), float(r["north_m"]), r["split"])
    for split in ("train", "test"):
        recs = read_records(root, split, val_fraction=0.0)
        assert recs and all(poses[r.panorama.name][2] == split for r in recs)
        for r in recs:
            assert r.sat_mpp == pytest.approx(0.1) and r.panorama.is_file() and r.satellite.is_file()
            ce, cn = world.latlon_to_enu(r.sat_lat, r.sat_lon)
            row, col = geo.vigor_offsets_to_pixel(r.d_north_px, r.d_east_px, 640)
            e, n = geo.patch_pixel_to_enu(row, col, ce, cn, r.sat_mpp, 640)
            pe, pn, _ = poses[r.panorama.name]
            assert math.hypot(e - pe, n - pn) < 0.01


def test_tilted_bag_renders_the_tilt_and_the_imu_reports_it(tmp_path, world):
    from geodistill_ros.camera import level_panorama
    from geodistill_ros.sim.config import SimError

    base = dict(frames=4, pano_height=128, pano_width=256, seed=4)
    msgs = {}
    for name, tilt in (("level", False), ("tilt", True)):
        write_bag(world, tmp_path / name, BagConfig(tilt=tilt, **base), progress=False)
        with bagio.open_reader(tmp_path / name) as reader:
            for topic, msgtype, _, raw in bagio.iter_messages(reader):
                msgs.setdefault(name, {}).setdefault(topic, []).append(bagio.deserialize(raw, msgtype))
    level, tilt = msgs["level"], msgs["tilt"]
    band, ratios = slice(32, 96), []
    for i in range(4):
        a, b = level["/ground_truth/pose"][i].pose.pose, tilt["/ground_truth/pose"][i].pose.pose
        assert (a.position.x, a.position.y) == (b.position.x, b.position.y)  # same drive
        q = tilt["/imu/data"][i].orientation
        roll, pitch = geo.roll_pitch_from_quaternion(q.x, q.y, q.z, q.w)
        assert 0.0 < math.hypot(roll, pitch) < math.radians(1.5 * math.sqrt(2) + 0.5)
        ql = level["/imu/data"][i].orientation
        assert geo.roll_pitch_from_quaternion(ql.x, ql.y, ql.z, ql.w) == pytest.approx((0.0, 0.0), abs=1e-12)
        assert geo.yaw_from_quaternion(q.x, q.y, q.z, q.w) == pytest.approx(
            geo.yaw_from_quaternion(ql.x, ql.y, ql.z, ql.w), abs=1e-9)  # the heading is the same measurement
        want = np.asarray(level["/camera/image_raw"][i].data).reshape(128, 256, 3).astype(float)
        got = np.asarray(tilt["/camera/image_raw"][i].data).reshape(128, 256, 3)
        errors = [np.abs(x[band].astype(float) - want[band]).mean() for x in
                  (got, level_panorama(got, geo.tilt_rotation(roll, pitch)),
                   level_panorama(got, geo.tilt_rotation(-roll, -pitch)))]
        assert errors[1] < errors[0] < errors[2], errors  # levelled by the IMU: closer; the wrong sign: farther
        ratios.append(errors[1] / errors[0])
    assert np.mean(ratios) < 0.8, ratios  # (the rest: resampling blur at 128x256 and 0.1 deg of IMU noise)
    assert tilt["/imu/data"][0].orientation_covariance[0] == pytest.approx(math.radians(0.1) ** 2)
    with pytest.raises(SimError, match="panoramas only"):
        write_bag(world, tmp_path / "ph", BagConfig(tilt=True, camera="pinhole", **base), progress=False)
