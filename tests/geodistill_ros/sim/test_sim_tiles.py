"""World folder imagery read through the runtime tile stack: crops match ``World.satellite_patch``."""

import json

import cv2
import numpy as np
import pytest

from geodistill_ros.sim import World
from geodistill_ros.sim.worldio import MBTILES, write_world_folder
from geodistill_ros.tiles import open_tile_source


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    w = World.generate(seed=4, style="downtown", size_m=120)
    out = write_world_folder(w, tmp_path_factory.mktemp("tiles") / "w")
    return w, out


def _gray(img):
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)


@pytest.mark.parametrize("source", ["folder", "mbtiles"])
@pytest.mark.parametrize("east_m,north_m,size_px,mpp", [(0.0, 0.0, 128, 0.2), (10.3, -7.7, 160, 0.25),
                                                         (-20.0, 15.0, 100, 0.5), (5.0, 5.0, 200, 0.15)])
def test_tile_crop_matches_satellite_patch(world_dir, source, east_m, north_m, size_px, mpp):
    world, out = world_dir
    meta = json.loads((out / "world.json").read_text())
    assert meta["mbtiles"] == MBTILES and meta["tiles"]["dir"] == "tiles"
    src = open_tile_source(out if source == "folder" else out / MBTILES)
    lat, lon = world.enu_to_latlon(east_m, north_m)
    crop = src.crop(float(lat), float(lon), size_px, mpp)
    ref = world.satellite_patch(east_m, north_m, size_px, mpp)
    assert crop.image.shape == ref.shape and crop.valid_mask.all()
    diff = np.abs(crop.image.astype(int) - ref.astype(int))
    assert diff.mean() < 3.0 and np.percentile(diff, 99) < 20, (diff.mean(), np.percentile(diff, 99))
    # sub-pixel registration: the two are aligned to a fraction of a pixel (a half-pixel slip would fail)
    (dx, dy), _ = cv2.phaseCorrelate(_gray(crop.image), _gray(ref), window=cv2.createHanningWindow(
        (size_px, size_px), cv2.CV_32F))
    assert abs(dx) < 0.2 and abs(dy) < 0.2, (dx, dy)


def test_crop_beyond_the_world_edge_is_marked_invalid(world_dir):
    world, out = world_dir
    lat, lon = world.enu_to_latlon(55.0, 0.0)  # 5 m inside the east edge; the crop reaches 20 m beyond it
    crop = open_tile_source(out).crop(float(lat), float(lon), 100, 0.5)
    cols_valid = crop.valid_mask.mean(axis=0)
    assert cols_valid[:45].min() > 0.99 and cols_valid[70:].max() < 0.01
