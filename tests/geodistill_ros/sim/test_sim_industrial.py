"""The ``industrial`` style: its character, the gap, rendering, and every writer (world folder, dataset, bag)."""

import json
import math

import numpy as np
import pytest

from geodistill_ros.sim import STYLES, World
from geodistill_ros.sim import layout as L
from geodistill_ros.sim.appearance import KIND_BUILDING, KIND_TRAILER
from geodistill_ros.sim.cli import main

PAVED_YARD = [L.PARKING, L.CONCRETE, L.GRAVEL]


@pytest.fixture(scope="module")
def worlds():
    return {s: World.generate(seed=11, style=s, size_m=300) for s in ("industrial", "downtown", "suburb")}


def _share(world, classes):
    return float(np.isin(np.asarray(world.scene["cls"]), classes).mean())


def _sheds(world):
    return [b for b in world.tables["buildings"] if b.get("kind") != "container"]


def test_style_is_listed_after_the_old_ones():
    assert STYLES[:3] == ("downtown", "suburb", "rural") and STYLES[3] == "industrial"


def test_industrial_has_its_character(worlds):
    ind, dt, sub = worlds["industrial"], worlds["downtown"], worlds["suburb"]
    sheds = _sheds(ind)
    foot = np.array([4 * b["hu"] * b["hv"] for b in sheds])
    height = np.array([b["eave_h"] for b in sheds])
    # large, low, flat-roofed sheds
    assert len(sheds) >= 4 and np.median(foot) > 1000.0
    assert np.median(foot) > 1.5 * np.median([4 * b["hu"] * b["hv"] for b in dt.tables["buildings"]])
    assert 6.0 <= np.median(height) <= 13.0 < np.median([b["eave_h"] for b in dt.tables["buildings"]])
    assert all(b["roof"] == "flat" for b in ind.tables["buildings"])
    # building footprint share plausible; paved yards and car parks far more than in town or suburb
    assert 0.08 < _share(ind, [L.BASE]) < 0.4
    assert _share(ind, [L.PARKING]) > max(0.01, 2 * _share(dt, [L.PARKING]), 2 * _share(sub, [L.PARKING]))
    assert _share(ind, PAVED_YARD) > 0.15 > max(_share(dt, PAVED_YARD), _share(sub, PAVED_YARD))
    # wide roads, sparse trees
    assert np.median([r.width_m for r in ind.roads]) > 11.0 > np.median([r.width_m for r in sub.roads])
    assert len(ind.tables["trees"]) < 0.3 * min(len(dt.tables["trees"]), len(sub.tables["trees"]))
    # trucks at the docks, each time with its own set (the parked-vehicle gap)
    whens = [c["when"] for c in ind.tables["cars"] if c.get("kind") == "trailer"]
    assert whens.count("ground") > 0 and whens.count("satellite") > 0 and whens.count("both") > 0


def test_industrial_goes_through_the_gap(worlds):
    ind = worlds["industrial"]
    nogap = World.generate(seed=11, style="industrial", size_m=300, gap=False)
    assert np.array_equal(ind.scene["cls"], nogap.scene["cls"])
    assert np.array_equal(ind.scene["ground_rgb"], nogap.scene["ground_rgb"])
    diff = np.abs(ind.scene["sat_rgb"].astype(int) - nogap.scene["sat_rgb"].astype(int)).mean()
    assert diff > 10
    assert ind.meta["appearance"]["misregistration_max_m"] > 0
    assert nogap.meta["appearance"]["misregistration_max_m"] == 0


def test_industrial_renders_sheds_and_trailers(worlds):
    ind = worlds["industrial"]
    kind = np.asarray(ind.scene["solid_kind"])
    assert (kind == KIND_TRAILER).any() and (kind == KIND_BUILDING).any()
    # stand in a yard 12 m in front of the biggest shed, looking at it
    b = max(_sheds(ind), key=lambda x: x["hu"] * x["hv"])
    seen = 0
    for sgn in (-1, 1):
        for along in ("u", "v"):
            ax = np.array([math.cos(b["rot"]), math.sin(b["rot"])])
            if along == "v":
                ax = np.array([-ax[1], ax[0]])
            half = b["hu"] if along == "u" else b["hv"]
            cam = np.array([b["cx"], b["cy"]]) + sgn * ax * (half + 12.0)
            if not ind.contains(*cam, margin_m=2.0) or ind.scene["solid_h"][
                    ind.size_px // 2 - int(cam[1] / ind.meters_per_pixel),
                    ind.size_px // 2 + int(cam[0] / ind.meters_per_pixel)] > 0:
                continue
            yaw = math.atan2(-sgn * ax[1], -sgn * ax[0])
            img, depth = ind.render_pinhole(cam[0], cam[1], yaw, 64, 48, return_depth=True)
            assert img.shape == (48, 64, 3) and img.std() > 5
            centre = depth[10:24, 28:36]  # above the horizon, straight ahead: the wall about 12 m away
            assert np.isfinite(centre).all() and np.median(centre) == pytest.approx(12.0, abs=1.5)
            seen += 1
    assert seen >= 1


def test_cli_industrial_world_dataset_and_bag(tmp_path):
    wdir = tmp_path / "world"
    assert main(["world", "--seed", "4", "--style", "industrial", "--size", "160", "--out", str(wdir),
                 "--baseline", "0"]) == 0
    meta = json.loads((wdir / "world.json").read_text())
    assert meta["style"] == "industrial" and meta["tiles"]["max_zoom"] >= 20
    assert World.load(wdir).tables["buildings"]
    assert main(["dataset", "--world", str(wdir), "--n", "3", "--out", str(tmp_path / "ds"), "--pano-height", "32",
                 "--pano-width", "64", "--no-pinhole", "--workers", "1"]) == 0
    labels = tmp_path / "ds" / "splits__corrected" / "Industrial4" / "pano_label_balanced__corrected.txt"
    assert len(labels.read_text().splitlines()) == 3
    assert main(["dataset", "--style", "industrial", "--seed", "5", "--size", "160", "--n", "2", "--out",
                 str(tmp_path / "ds2"), "--pano-height", "32", "--pano-width", "64", "--no-pinhole",
                 "--workers", "1"]) == 0
    assert (tmp_path / "ds2" / "Industrial5" / "meta.json").is_file()
    assert main(["bag", "--world", str(wdir), "--frames", "2", "--out", str(tmp_path / "bag")]) == 0
    assert json.loads((tmp_path / "bag" / "geodistill_world.json").read_text())["style"] == "industrial"
