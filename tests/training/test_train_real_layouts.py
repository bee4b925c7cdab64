"""The real-dataset loaders against small fake folders in the real VIGOR and KITTI (HighlyAccurate) layouts."""

import math

import cv2
import numpy as np
import pytest

from training.datasets.kitti import KittiDataset, camera_offset_enu
from training.datasets.vigor import VIGOR_METERS_PER_PIXEL, DatasetError, VigorDataset

CITIES = ("NewYork", "Seattle", "SanFrancisco", "Chicago")


def _write_vigor(root, label_dir="splits", suffix="", n_per_city=10):
    """Four cities; each panorama's positive 640-px satellite image has a white block on the camera."""
    rng = np.random.default_rng(0)
    for c, city in enumerate(CITIES):
        (root / city / "panorama").mkdir(parents=True)
        (root / city / "satellite").mkdir(parents=True)
        (root / label_dir / city).mkdir(parents=True, exist_ok=True)
        lines = []
        for i in range(n_per_city):
            lat, lon = 40.0 + c + i * 1e-3, -74.0 + i * 1e-3
            pano = f"pano{c}{i:03d},{lat:.6f},{lon:.6f},.jpg"
            cv2.imwrite(str(root / city / "panorama" / pano), np.full((32, 64, 3), 90, np.uint8))
            d_north, d_east = rng.uniform(-150, 150, 2)
            row, col = 320.0 + d_north, 320.0 - d_east  # the camera in the 640-px image (VIGOR convention)
            sat = np.zeros((640, 640, 3), np.uint8)
            sat[int(row) - 8:int(row) + 8, int(col) - 8:int(col) + 8] = 255
            names = [f"satellite_{lat + k * 1e-4:.6f}_{lon:.6f}.png" for k in range(4)]
            cv2.imwrite(str(root / city / "satellite" / names[0]), sat)
            semis = " ".join(f"{n} 1.0 2.0" for n in names[1:])
            lines.append(f"{pano} {names[0]} {d_north:.4f} {d_east:.4f} {semis}")
        for name in ("same_area_balanced_train", "same_area_balanced_test", "pano_label_balanced"):
            (root / label_dir / city / f"{name}{suffix}.txt").write_text("\n".join(lines) + "\n")


def test_vigor_real_layout_loads_positions_and_splits(tmp_path):
    _write_vigor(tmp_path)
    ds = VigorDataset(tmp_path, "train", sat_size_px=128, meters_per_pixel=0.4, canvas_hw=(16, 32))
    assert len(ds) == 4 * 9 and ds.city_names == sorted(CITIES)  # 10% of each city's list held out as val
    assert len(VigorDataset(tmp_path, "val", sat_size_px=128, meters_per_pixel=0.4)) == 4
    for k in (0, 11, 25):
        s = ds[k]
        assert s["ground"].shape == (3, 16, 32) and s["sat"].shape == (3, 128, 128)
        rows, cols = np.nonzero(s["sat"][0].numpy() > 0.5)
        # the white block sits on the label's camera position after resampling to 0.4 m/px
        assert abs(rows.mean() + 0.5 - float(s["gt_row_px"])) < 1.0
        assert abs(cols.mean() + 0.5 - float(s["gt_col_px"])) < 1.0
    rec = ds.records[0]
    assert rec.sat_mpp == VIGOR_METERS_PER_PIXEL[rec.city]  # no meta.json: the per-city constants
    # consecutive patches of a city are 0.001 deg apart in lat and lon; the sampler frame is metric (east, north)
    assert rec.city == "Chicago"  # latitude 43 deg: 0.001 deg is ~81.5 m east and ~111.1 m north
    np.testing.assert_allclose(ds.sat_centers_m[1] - ds.sat_centers_m[0], [81.5, 111.1], atol=0.6)
    cross_train = VigorDataset(tmp_path, "train", mode="cross", sat_size_px=64, meters_per_pixel=0.4)
    cross_test = VigorDataset(tmp_path, "test", mode="cross", sat_size_px=64, meters_per_pixel=0.4)
    assert cross_train.city_names == ["NewYork", "Seattle"]
    assert cross_test.city_names == ["Chicago", "SanFrancisco"] and len(cross_test) == 20
    semis = VigorDataset(tmp_path, "test", positives_only=False, sat_size_px=64, meters_per_pixel=0.4)
    assert len(semis) == 4 * 10 * 4


def test_vigor_corrected_labels_win(tmp_path):
    _write_vigor(tmp_path)
    corrected = tmp_path / "splits__corrected" / "Seattle"
    corrected.mkdir(parents=True)
    lines = (tmp_path / "splits" / "Seattle" / "same_area_balanced_test.txt").read_text().splitlines()
    (corrected / "same_area_balanced_test__corrected.txt").write_text("\n".join(lines[:3]))
    ds = VigorDataset(tmp_path, "test", cities=("Seattle",), sat_size_px=64, meters_per_pixel=0.4)
    assert len(ds) == 3
    with pytest.raises(DatasetError, match="label file missing"):
        VigorDataset(tmp_path, "train", cities=("Seattle",), sat_size_px=64, meters_per_pixel=0.4)


def _write_kitti(root, frames, sat_mpp=0.2):
    """HighlyAccurate layout; each satmap is centred on the GPS with a white block on the left camera."""
    date, drive = "2011_09_26", "2011_09_26_drive_0001_sync"
    raw = root / "raw_data" / date
    (raw / drive / "image_02" / "data").mkdir(parents=True)
    (raw / drive / "oxts" / "data").mkdir(parents=True)
    (root / "satmap" / date / drive).mkdir(parents=True)
    (raw / "calib_cam_to_cam.txt").write_text("calib_time: x\nP_rect_02: 100 0 64 0 0 100 24 0 0 0 1 0\n")
    lines = []
    for i, (lat, lon, yaw) in enumerate(frames):
        name = f"{i:010d}"
        cv2.imwrite(str(raw / drive / "image_02" / "data" / f"{name}.png"), np.full((48, 128, 3), 120, np.uint8))
        (raw / drive / "oxts" / "data" / f"{name}.txt").write_text(f"{lat} {lon} 110 0 0 {yaw} " + "0 " * 24)
        east, north = camera_offset_enu(yaw)
        r, c = 100.0 - north / sat_mpp, 100.0 + east / sat_mpp
        sat = np.zeros((200, 200, 3), np.uint8)
        sat[int(round(r)) - 5:int(round(r)) + 5, int(round(c)) - 5:int(round(c)) + 5] = 255
        cv2.imwrite(str(root / "satmap" / date / drive / f"{name}.png"), sat)
        lines.append(f"{date}/{drive}/{name}.png")
    (root / "meta.json").write_text(f'{{"meters_per_pixel": {sat_mpp}}}')
    return lines


def test_camera_offset_matches_reference_convention():
    # heading east: the left camera is 1.08 m ahead (east) and 0.26 m to the right (south) of the GPS
    np.testing.assert_allclose(camera_offset_enu(0.0), (1.08, -0.26), atol=1e-12)
    np.testing.assert_allclose(camera_offset_enu(math.pi / 2), (0.26, 1.08), atol=1e-12)


def test_kitti_real_layout(tmp_path):
    frames = [(49.0, 8.4, 0.0), (49.0, 8.4001, 1.2), (49.0003, 8.4, -2.0)]
    lines = _write_kitti(tmp_path, frames)
    (tmp_path / "train_files.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "dataLoader").mkdir()
    (tmp_path / "dataLoader" / "test1_files.txt").write_text(f"{lines[0]} 49.0 8.4\n")  # with sat GPS columns
    ds = KittiDataset(tmp_path, "train", sat_size_px=64, meters_per_pixel=0.4, canvas_hw=(32, 64))
    assert len(ds) == 3
    for k in range(3):
        s = ds[k]
        assert s["ground_mask"].sum() > 0 and s["ground_mask"].mean() < 0.6  # a pinhole sees part of the sphere
        r, c = float(s["gt_row_px"]), float(s["gt_col_px"])
        assert 15.0 <= r <= 49.0 and 15.0 <= c <= 49.0  # within a quarter of the patch from its centre
        rows, cols = np.nonzero(s["sat"][0].numpy() > 0.5)
        assert abs(rows.mean() + 0.5 - r) < 1.0 and abs(cols.mean() + 0.5 - c) < 1.0
        assert abs(float(s["camera_yaw_rad"]) - frames[k][2]) < 1e-6
    # sampler frame: 0.0001 deg of longitude at 49 deg N is ~7.3 m east, 0.0003 deg of latitude ~33 m north
    d01 = ds.sat_centers_m[1] - ds.sat_centers_m[0]
    d02 = ds.sat_centers_m[2] - ds.sat_centers_m[0]
    off = [np.array([(ds._patch_offset_px(i)[1]) * 0.4, -ds._patch_offset_px(i)[0] * 0.4]) for i in range(3)]
    cam = [np.array(camera_offset_enu(f[2])) for f in frames]
    np.testing.assert_allclose(d01 - (cam[1] - off[1]) + (cam[0] - off[0]), [7.3, 0.0], atol=0.2)
    np.testing.assert_allclose(d02 - (cam[2] - off[2]) + (cam[0] - off[0]), [0.0, 33.4], atol=0.3)
    assert len(KittiDataset(tmp_path, "test", sat_size_px=64, meters_per_pixel=0.4)) == 1
    with pytest.raises(DatasetError, match="test2_files"):
        KittiDataset(tmp_path, "test2")
