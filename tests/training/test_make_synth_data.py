"""training.make_synth_data: the VIGOR-layout sets, with the gap's camera attitude or a level camera."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest

from geodistill_ros.sim.config import GapConfig
from training import make_synth_data


@pytest.fixture(scope="module")
def two_sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("msd")
    common = ["--worlds", "industrial:201", "--per-world", "4", "--size-m", "200", "--pano", "128", "256",
              "--split", "test"]
    assert make_synth_data.main(["--out", str(root / "tilt"), *common]) == 0
    assert make_synth_data.main(["--out", str(root / "level"), *common, "--level-camera"]) == 0
    return root / "tilt", root / "level"


def _attitude(root):
    return json.loads((root / "industrial_s201" / "attitude.json").read_text())


def test_gap_on_tilts_the_camera_within_the_gap_limits(two_sets):
    tilt, _ = two_sets
    att = _attitude(tilt)
    assert len(att) == 4
    gap = GapConfig()
    rolls = np.array([a["roll_rad"] for a in att.values()])
    pitches = np.array([a["pitch_rad"] for a in att.values()])
    dh = np.array([a["height_error_m"] for a in att.values()])
    limit = math.radians(gap.max_tilt_deg)
    assert np.all(np.abs(rolls) <= limit) and np.all(np.abs(pitches) <= limit)
    assert np.all(np.abs(dh) <= gap.max_height_error_m)
    assert np.abs(np.concatenate([rolls, pitches])).max() > 0.1 * limit  # really drawn, not all zero
    meta = json.loads((tilt / "meta.json").read_text())
    assert meta["attitude"] is True and meta["gap"] is True


def test_level_camera_keeps_poses_and_labels_and_only_changes_the_panoramas(two_sets):
    tilt, level = two_sets
    assert all(v == {"roll_rad": 0.0, "pitch_rad": 0.0, "height_error_m": 0.0} for v in _attitude(level).values())
    assert json.loads((level / "meta.json").read_text())["attitude"] is False
    split = "splits/industrial_s201/test.txt"
    assert (tilt / split).read_text() == (level / split).read_text()  # same names, patches and offsets
    names = sorted(_attitude(tilt))
    for name in names:
        a = cv2.imread(str(tilt / "industrial_s201" / "panorama" / name))
        b = cv2.imread(str(level / "industrial_s201" / "panorama" / name))
        assert a.shape == b.shape == (128, 256, 3)
        assert np.abs(a.astype(int) - b.astype(int)).mean() > 1.0
    sat = sorted((tilt / "industrial_s201" / "satellite").iterdir())
    for path in sat:
        twin = level / "industrial_s201" / "satellite" / path.name
        assert np.array_equal(cv2.imread(str(path)), cv2.imread(str(twin)))


def test_no_gap_means_a_level_camera(tmp_path):
    out = tmp_path / "nogap"
    make_synth_data.main(["--out", str(out), "--worlds", "rural:3", "--per-world", "2", "--size-m", "200",
                          "--pano", "64", "128", "--no-gap"])
    assert json.loads((out / "meta.json").read_text())["attitude"] is False
    att = json.loads((out / "rural_s3" / "attitude.json").read_text())
    assert all(v["roll_rad"] == 0.0 and v["pitch_rad"] == 0.0 for v in att.values())


def test_attitude_is_rep103_and_levelling_by_it_restores_the_level_panorama(two_sets):
    from training.datasets.vigor import DatasetError, VigorDataset

    tilt, level = two_sets
    kw = {"split": "test", "sat_size_px": 64, "meters_per_pixel": 0.2, "canvas_hw": (128, 256)}
    raw, fixed, ref = (VigorDataset(tilt, **kw), VigorDataset(tilt, level_attitude=True, **kw),
                       VigorDataset(level, **kw))
    band = slice(32, 64)  # zenith 45-90 deg: facades and skyline, where the height error matters least
    ratios = []
    for i in range(len(ref)):
        truth = ref[i]["ground"][:, band]
        before = float((raw[i]["ground"][:, band] - truth).abs().mean())
        after = float((fixed[i]["ground"][:, band] - truth).abs().mean())
        ratios.append(after / before)
        # the raw panorama that evaluation's queries are cut from is levelled too
        full = [d.load_panorama(i)[band].astype(float) for d in (raw, fixed, ref)]
        assert np.abs(full[1] - full[2]).mean() < 0.8 * np.abs(full[0] - full[2]).mean()
    assert max(ratios) < 0.8 and np.mean(ratios) < 0.65, ratios
    # the level set records zeros, so levelling it changes nothing
    same = VigorDataset(level, level_attitude=True, **kw)
    np.testing.assert_allclose(same[0]["ground"].numpy(), ref[0]["ground"].numpy(), atol=1.5 / 255)
    (tilt / "industrial_s201" / "attitude.json").rename(tilt / "attitude.json.bak")
    try:
        with pytest.raises(DatasetError, match="attitude.json is missing"):
            VigorDataset(tilt, level_attitude=True, **kw)
    finally:
        (tilt / "attitude.json.bak").rename(tilt / "industrial_s201" / "attitude.json")


def test_training_levels_by_the_recorded_attitude_when_configured(two_sets):
    from training.config import DataConfig, ModelConfig
    from training.datasets import build_dataset
    from training.datasets.vigor import VigorDataset

    tilt, _ = two_sets
    model = ModelConfig(sat_size_px=64, ground_height_px=128, ground_width_px=256)
    kw = {"split": "test", "sat_size_px": 64, "meters_per_pixel": 0.2, "canvas_hw": (128, 256)}
    raw, fixed = VigorDataset(tilt, **kw), VigorDataset(tilt, level_attitude=True, **kw)
    plain = build_dataset(DataConfig(root=str(tilt)), model, split="test", train=False)
    levelled = build_dataset(DataConfig(root=str(tilt), level_attitude=True), model, split="test", train=False)
    for i in range(len(raw)):
        assert np.array_equal(plain[i]["ground"].numpy(), raw[i]["ground"].numpy())
        assert np.array_equal(levelled[i]["ground"].numpy(), fixed[i]["ground"].numpy())
        assert not np.array_equal(levelled[i]["ground"].numpy(), raw[i]["ground"].numpy())
    with pytest.raises(ValueError, match="KITTI layout has no such file"):
        build_dataset(DataConfig(root=str(tilt), kind="kitti", level_attitude=True), model, split="test")
