"""``geodistill bag-dataset``: a synthetic drive turned into VIGOR-layout weak pairs, checked against the world."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from geodistill_ros import bag_dataset as bd
from geodistill_ros import geometry
from geodistill_ros.evaluation import read_sensors

PANO_HW = (128, 256)


# --- pure pieces -----------------------------------------------------------------------------------------
def test_keep_by_spacing_keeps_one_frame_per_spacing_and_one_per_stop():
    en = np.array([[0, 0], [0.5, 0], [1.0, 0], [2.1, 0], [2.1, 0], [2.1, 0], [2.1, 2.0], [4.2, 2.0]])
    assert bd.keep_by_spacing(en, 2.0).tolist() == [0, 3, 6, 7]
    assert bd.keep_by_spacing(en, 0.0).tolist() == list(range(8))
    assert bd.keep_by_spacing(np.zeros((0, 2)), 2.0).tolist() == []


def test_split_tail_and_nearest_in_time():
    assert bd.split_tail(5, 0.4) == ["train"] * 3 + ["test"] * 2
    assert bd.split_tail(4, 0.0) == ["train"] * 4
    stamps = np.array([10, 20, 30])
    assert [bd.nearest_in_time(stamps, t) for t in (0, 14, 16, 29, 99)] == [0, 0, 1, 2, 2]
    assert bd.nearest_in_time(np.zeros(0, np.int64), 5) == -1


def test_config_refuses_bad_values():
    with pytest.raises(bd.BagDatasetError, match="positions"):
        bd.BagDatasetConfig(positions="rtk")
    with pytest.raises(bd.BagDatasetError, match="test_fraction"):
        bd.BagDatasetConfig(test_fraction=1.0)


# --- a synthetic drive -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def drive(tmp_path_factory):
    """A gap-free world with tiles and a 30-frame panorama drive through it: ``(world, bag)``."""
    from geodistill_ros.sim import World
    from geodistill_ros.sim.bag import BagConfig, write_bag
    from geodistill_ros.sim.worldio import write_world_folder

    root = tmp_path_factory.mktemp("bagds")
    world = World.generate(seed=2, style="suburb", size_m=240, gap=False)
    world_dir = write_world_folder(world, root / "world")
    bag = root / "drive"
    write_bag(world, bag, BagConfig(frames=30, pano_height=PANO_HW[0], pano_width=PANO_HW[1], seed=3),
              progress=False, world_dir=world_dir)
    return world, bag


@pytest.fixture(scope="module")
def written(drive, tmp_path_factory):
    _world, bag = drive
    out = tmp_path_factory.mktemp("out") / "ds"
    cfg = bd.BagDatasetConfig(sat_size_px=320, sat_meters_per_pixel=0.2, min_spacing_m=2.0, test_fraction=0.25)
    summary = bd.write_bag_dataset([bag], out, cfg, cities=["Drive"], progress=False)
    return out, summary["Drive"]


def _labels(root: Path, city: str, fname: str):
    return [ln.split() for ln in (root / "splits" / city / fname).read_text().splitlines() if ln.strip()]


def test_every_label_puts_the_camera_at_its_ground_truth(drive, written):
    _world, bag = drive
    out, summary = written
    lines = _labels(out, "Drive", bd.LABEL_TRAIN) + _labels(out, "Drive", bd.LABEL_TEST)
    assert summary["positions"] == "ground_truth" and len(lines) == summary["frames"] >= 8
    assert summary["skipped"].get("closer than min_spacing_m", 0) > 0  # 5 Hz at >= 5 m/s: some frames dropped
    offsets = _check_labels(out, bag, lines)
    assert np.median(offsets) < 12.0  # the patch is centred on the fix: off the camera by the GPS error only


def test_patch_jitter_moves_the_patches_and_keeps_the_labels_true(drive, tmp_path):
    _world, bag = drive
    cfg = bd.BagDatasetConfig(sat_size_px=320, sat_meters_per_pixel=0.2, patch_jitter_m=20.0, seed=5)
    bd.write_bag_dataset([bag], tmp_path / "j", cfg, cities=["Drive"], progress=False)
    lines = _labels(tmp_path / "j", "Drive", bd.LABEL_TRAIN)
    jittered = _check_labels(tmp_path / "j", bag, lines)
    assert len(set(ln[1] for ln in lines)) == len(lines)  # every frame its own patch
    with pytest.raises(bd.BagDatasetError, match="patch_jitter_m"):
        bd.BagDatasetConfig(sat_size_px=320, sat_meters_per_pixel=0.2, patch_jitter_m=32.0)
    cfg0 = bd.BagDatasetConfig(sat_size_px=320, sat_meters_per_pixel=0.2)
    bd.write_bag_dataset([bag], tmp_path / "c", cfg0, cities=["Drive"], progress=False)
    centred = _check_labels(tmp_path / "c", bag, _labels(tmp_path / "c", "Drive", bd.LABEL_TRAIN))
    assert np.mean(jittered) > np.mean(centred) + 3.0


def _check_labels(out: Path, bag: Path, lines) -> np.ndarray:
    """Assert that every label line decodes to the panorama's position and that this is the bag's ground truth;
    returns each camera's distance (m) from its patch centre."""
    sensors = read_sensors(bag)
    dist = []
    meta = json.loads((out / "Drive" / "meta.json").read_text())
    mpp640 = meta["meters_per_pixel"]  # label pixels are those of a 640-px image
    assert mpp640 == pytest.approx(0.1)
    for name, sat, d0, d1 in lines:
        _, lat_s, lon_s, _ = name.split(",")
        sat_lat, sat_lon = (float(v) for v in Path(sat).stem.split("_")[1:])
        row, col = geometry.vigor_offsets_to_pixel(float(d0), float(d1), 640)
        east, north = geometry.patch_pixel_to_enu(row, col, 0.0, 0.0, mpp640, 640)
        lat, lon, _ = geometry.enu_to_geodetic(east, north, 0.0, sat_lat, sat_lon)
        assert float(lat) == pytest.approx(float(lat_s), abs=2e-7)
        assert float(lon) == pytest.approx(float(lon_s), abs=2e-7)
        # ... and that position is the bag's ground truth at some frame
        e, n, _ = geometry.geodetic_to_enu(float(lat_s), float(lon_s), 0.0, *sensors.datum)
        assert np.min(np.hypot(sensors.truth.en[:, 0] - e, sensors.truth.en[:, 1] - n)) < 0.01
        dist.append(math.hypot(east, north))
    return np.asarray(dist)


def _ncc(a, b):
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def test_panoramas_are_north_centred_by_the_imu_and_patches_are_the_world(drive, written):
    import csv

    world, bag = drive
    out, _ = written
    sensors = read_sensors(bag)
    with open(out / "Drive" / "poses.csv") as f:
        rows = list(csv.DictReader(f))
    for row in rows[:4]:
        name, imu_yaw = row["panorama"], float(row["yaw_rad"])
        k = int(np.argmin(np.abs(sensors.truth.stamp_ns - int(row["stamp_ns"]))))
        true_yaw = float(sensors.truth.yaw[k])
        pano = cv2.cvtColor(cv2.imread(str(out / "Drive" / "panorama" / name)), cv2.COLOR_BGR2RGB).astype(np.float32)
        e, n = sensors.truth.en[k]
        # VIGOR: north at the centre column = a camera facing north (yaw pi/2). The canvas is turned by the IMU's
        # heading, so it shows north where the IMU is right and is off by the IMU's error otherwise:
        # canvas = render(pi/2 + true_yaw - imu_yaw)
        deltas = np.arange(-10, 11)
        scores = [_ncc(pano, world.render_panorama(e, n, math.pi / 2 + math.radians(d), PANO_HW[0], PANO_HW[1],
                                                   2.0).astype(np.float32)) for d in deltas]
        expected = math.degrees(geometry.wrap_angle(true_yaw - imu_yaw))
        assert abs(deltas[int(np.argmax(scores))] - expected) <= 1.5
        assert max(scores) > 0.95
        south = world.render_panorama(e, n, -math.pi / 2, PANO_HW[0], PANO_HW[1], 2.0).astype(np.float32)
        assert max(scores) > _ncc(pano, south) + 0.2
    sat = _labels(out, "Drive", bd.LABEL_TRAIN)[3][1]
    sat_lat, sat_lon = (float(v) for v in Path(sat).stem.split("_")[1:])
    se, sn, _ = geometry.geodetic_to_enu(sat_lat, sat_lon, 0.0, *sensors.datum)
    patch = cv2.cvtColor(cv2.imread(str(out / "Drive" / "satellite" / sat)), cv2.COLOR_BGR2RGB).astype(np.float32)
    assert patch.shape == (320, 320, 3)
    assert _ncc(patch, world.satellite_patch(se, sn, 320, 0.2).astype(np.float32)) > 0.9


def test_the_training_loader_reads_it_with_the_split_and_attitude(drive, written):
    pytest.importorskip("torch")
    from training.datasets.vigor import VigorDataset

    out, summary = written
    train = VigorDataset(out, "train", canvas_hw=(64, 128), val_fraction=0.0)
    test = VigorDataset(out, "test", canvas_hw=(64, 128), level_attitude=True)
    assert len(train) == summary["train"] and len(test) == summary["test"] == round(0.25 * summary["frames"])
    s = test[0]
    assert 0 <= float(s["gt_row_px"]) < 320 and 0 <= float(s["gt_col_px"]) < 320
    att = json.loads((out / "Drive" / "attitude.json").read_text())
    assert len(att) == summary["frames"]  # a level drive: the IMU reports zero roll and pitch
    assert all(abs(a["roll_rad"]) < 1e-9 and abs(a["pitch_rad"]) < 1e-9 for a in att.values())


def test_gps_positions_train_but_do_not_evaluate(drive, tmp_path):
    pytest.importorskip("torch")
    from training.datasets.vigor import DatasetError, VigorDataset, require_surveyed

    _world, bag = drive
    out = tmp_path / "gps"
    cfg = bd.BagDatasetConfig(sat_size_px=320, sat_meters_per_pixel=0.2, positions="gps", level_with_imu=True)
    summary = bd.write_bag_dataset([bag], out, cfg, cities=["Drive"], progress=False)["Drive"]
    assert summary["positions"] == "gps" and not (out / "Drive" / "attitude.json").exists()
    for _name, _sat, d0, d1 in _labels(out, "Drive", bd.LABEL_TRAIN):
        assert float(d0) == pytest.approx(0.0, abs=1e-3) and float(d1) == pytest.approx(0.0, abs=1e-3)
    ds = VigorDataset(out, "train", canvas_hw=(64, 128), val_fraction=0.0)
    assert len(ds) == summary["frames"]
    with pytest.raises(DatasetError, match="GPS fixes"):
        require_surveyed(ds, "evaluation")


def test_bad_inputs_get_clear_errors(drive, tmp_path, capsys):
    _world, bag = drive
    with pytest.raises(bd.BagDatasetError, match="already exists"):
        bd.write_bag_dataset([bag], tmp_path, progress=False)
    with pytest.raises(bd.BagDatasetError, match="one distinct city"):
        bd.write_bag_dataset([bag, bag], tmp_path / "x", progress=False)
    assert bd.main([str(tmp_path / "missing_bag"), "--out", str(tmp_path / "y")]) == 1
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "y").exists()


def test_a_pinhole_drive_is_refused(tmp_path):
    from geodistill_ros.sim import World
    from geodistill_ros.sim.bag import BagConfig, write_bag
    from geodistill_ros.sim.worldio import write_world_folder

    world = World.generate(seed=4, style="suburb", size_m=160, gap=False)
    world_dir = write_world_folder(world, tmp_path / "world")
    bag = tmp_path / "pinhole"
    write_bag(world, bag, BagConfig(frames=4, camera="pinhole", pinhole_width=64, pinhole_height=48),
              progress=False, world_dir=world_dir)
    with pytest.raises(bd.BagDatasetError, match="pinhole"):
        bd.write_bag_dataset([bag], tmp_path / "ds", progress=False)
    assert not (tmp_path / "ds").exists()
