"""Prefetcher along the heading; the ``geodistill tiles crop`` command."""

import math

import cv2
import numpy as np

from geodistill_ros.cli import main as geodistill_main
from geodistill_ros.tiles import open_tile_source

MPP = 0.2


def test_prefetch_warms_the_tiles_ahead(server, tmp_path, enu_to_latlon):
    lat, lon = enu_to_latlon(-40.0, 0.0)
    with open_tile_source(server.template, cache_dir=tmp_path / "cache") as src:
        src.prefetch(lat, lon, 0.0, 128, MPP, distance_m=60.0)  # heading east
        assert src._prefetcher.wait_idle(10.0)
        assert src._prefetcher.errors == 0 and src._prefetcher.completed == 1
        n = len(server.requests)
        assert n > 0
        ahead = src.crop(*enu_to_latlon(20.0, 0.0), 128, MPP)  # 60 m east: already warm
        assert ahead.valid_mask.all() and len(server.requests) == n
        src.prefetch(lat, lon, math.pi / 2, 128, MPP, distance_m=60.0)  # heading north: new tiles
        assert src._prefetcher.wait_idle(10.0)
        assert len(server.requests) > n


def test_cli_crop_writes_the_patch(pyramid, tmp_path, enu_to_latlon, capsys):
    lat, lon = enu_to_latlon(1.0, 2.0)
    out = tmp_path / "crop.png"
    rc = geodistill_main(["tiles", "crop", "--source", str(pyramid["mbtiles"]), "--lat", repr(lat), "--lon",
                          repr(lon), "--size", "96", "--mpp", "0.2", "--out", str(out), "--mask-out",
                          str(tmp_path / "mask.png"), "--json-out", str(tmp_path / "crop.json")])
    assert rc == 0
    line = capsys.readouterr().out.strip()
    assert "96x96" in line and "valid 100.0%" in line
    with open_tile_source(str(pyramid["mbtiles"])) as src:
        want = src.crop(lat, lon, 96, 0.2).image
    np.testing.assert_array_equal(cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB), want)
    assert (cv2.imread(str(tmp_path / "mask.png"), cv2.IMREAD_GRAYSCALE) == 255).all()


def test_cli_fails_with_one_line_reason(server, pyramid, tmp_path, capsys):
    cases = [
        (["--source", str(tmp_path / "nope.mbtiles")], "TileSourceError"),
        (["--source", str(pyramid["mbtiles"]), "--lat", "-10", "--lon", "20"], "TileOutOfCoverage"),
        (["--source", server.template, "--offline", "--cache", str(tmp_path / "c")], "TileOfflineMiss"),
        (["--source", str(pyramid["tiles"]), "--size", "0"], "TileRequestError"),
    ]
    server.stop()
    for extra, reason in cases:
        args = ["tiles", "crop", "--lat", "47.3769", "--lon", "8.5417", "--out", str(tmp_path / "x.png")]
        rc = geodistill_main(args + extra)
        err = capsys.readouterr().err.strip()
        assert rc == 1 and reason in err and "\n" not in err, (extra, err)
    rc = geodistill_main(["tiles", "crop", "--lat", "47.3769", "--lon", "8.5417", "--out", str(tmp_path / "x.png"),
                          "--source", server.template, "--timeout", "0.5"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "TileServerDown" in err and "\n" not in err
    assert not (tmp_path / "x.png").exists()
