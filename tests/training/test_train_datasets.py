"""VIGOR-layout loader, resampling, and the non-overlapping batch sampler."""

import json

import numpy as np
import pytest

from training.datasets.sampler import NonOverlappingBatchSampler
from training.datasets.vigor import DatasetError, VigorDataset, read_records, resample_satellite


def test_resample_keeps_centre_and_scale():
    img = np.zeros((640, 640, 3), np.uint8)
    img[300:340, 400:440] = 255  # a block centred at (320, 420)
    out, scale, offset = resample_satellite(img, 0.1, 0.2, 320)
    assert out.shape == (320, 320, 3) and scale == 0.5 and offset == 0.0
    rows, cols = np.nonzero(out[..., 0] > 127)
    assert abs(rows.mean() + 0.5 - 160.0) < 0.6 and abs(cols.mean() + 0.5 - 210.0) < 0.6
    out2, scale2, offset2 = resample_satellite(img, 0.1, 0.2, 256)  # crop
    assert out2.shape[0] == 256 and offset2 == 32.0


def test_vigor_loader_positions_and_splits(flat_root):
    ds = VigorDataset(flat_root, "train", sat_size_px=64, meters_per_pixel=0.4, canvas_hw=(32, 64))
    assert len(ds) == 24
    s = ds[0]
    assert s["ground"].shape == (3, 32, 64) and s["sat"].shape == (3, 64, 64)
    # the camera is within the central half of its 32-m patch: +-8 m = +-20 px at 0.4 m/px
    assert 12 <= float(s["gt_row_px"]) <= 52 and 12 <= float(s["gt_col_px"]) <= 52
    assert len(VigorDataset(flat_root, "test", sat_size_px=64, meters_per_pixel=0.4)) == 4


def test_vigor_standard_split_files_and_errors(tmp_path, flat_root):
    # real-VIGOR file names: same-area train / test lists, per-city constants without meta.json
    city = tmp_path / "Seattle"
    (city / "panorama").mkdir(parents=True)
    (city / "satellite").mkdir()
    (tmp_path / "splits" / "Seattle").mkdir(parents=True)
    line = "a,1,2,.jpg satellite_47.6_-122.3.png 10 -5 satellite_47.61_-122.3.png 1 2 " \
           "satellite_47.62_-122.3.png 1 2 satellite_47.63_-122.3.png 1 2"
    (tmp_path / "splits" / "Seattle" / "same_area_balanced_train.txt").write_text("\n".join([line] * 10))
    (tmp_path / "splits" / "Seattle" / "same_area_balanced_test.txt").write_text(line)
    train = read_records(tmp_path, "train", "same", val_fraction=0.2)
    val = read_records(tmp_path, "val", "same", val_fraction=0.2)
    assert len(train) == 8 and len(val) == 2
    assert abs(train[0].sat_mpp - 0.100817) < 1e-9 and train[0].d_north_px == 10.0
    assert len(read_records(tmp_path, "train", "same", positives_only=False)) == 36
    (tmp_path / "splits" / "Seattle" / "pano_label_balanced.txt").write_text("\n".join([line] * 3))
    cross = read_records(tmp_path, "train", "cross")
    assert len(cross) == 3 and cross[0].city == "Seattle"
    with pytest.raises(DatasetError):
        read_records(tmp_path / "missing", "train")
    (tmp_path / "splits" / "Seattle" / "same_area_balanced_test.txt").write_text("bad line")
    with pytest.raises(DatasetError):
        read_records(tmp_path, "test", "same")
    meta = json.loads((flat_root / "meta.json").read_text())
    assert meta["satellite_size_px"] == 640


def test_sampler_batches_never_overlap():
    rng = np.random.default_rng(0)
    centers = rng.uniform(0, 300, size=(200, 2))
    cities = rng.integers(0, 2, size=200)
    sampler = NonOverlappingBatchSampler(centers, cities, 6, 40.0, seed=1)
    batches = list(sampler)
    assert len(batches) > 10
    for b in batches:
        assert len(b) == 6
        for i in range(6):
            for j in range(i + 1, 6):
                a, c = b[i], b[j]
                if cities[a] == cities[c]:
                    assert np.any(np.abs(centers[a] - centers[c]) >= 40.0)
    hard = NonOverlappingBatchSampler(centers, cities, 6, 40.0, seed=1, hard_negatives=True)
    d_easy = np.mean([np.linalg.norm(centers[b[1]] - centers[b[0]]) for b in batches])
    d_hard = np.mean([np.linalg.norm(centers[b[1]] - centers[b[0]]) for b in hard if cities[b[1]] == cities[b[0]]])
    assert d_hard < d_easy
    r0 = NonOverlappingBatchSampler(centers, cities, 6, 40.0, seed=1, rank=0, world_size=2)
    r1 = NonOverlappingBatchSampler(centers, cities, 6, 40.0, seed=1, rank=1, world_size=2)
    assert len(r0) == len(r1) and not set(map(tuple, r0)) & set(map(tuple, r1))

