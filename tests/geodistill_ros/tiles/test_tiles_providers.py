"""File folders, file:// templates and MBTiles give the same crops as HTTP; bad sources fail typed."""

import sqlite3

import numpy as np
import pytest

from geodistill_ros.tiles import TileOutOfCoverage, TileSourceError, open_tile_source

MPP = 0.2


def test_mbtiles_and_file_providers_match_http(server, tmp_path, pyramid, enu_to_latlon):
    tiles = pyramid["tiles"]
    specs = [str(tiles), tiles.as_uri() + "/{z}/{x}/{y}.png", str(pyramid["mbtiles"]), str(pyramid["root"])]
    (pyramid["root"] / "world.json").write_text('{"tiles": {"dir": "tiles"}}')  # a world folder works too
    points = [enu_to_latlon(e, n) for e, n in [(0, 0), (-41.7, 22.2), (70.0, -60.0)]]
    with open_tile_source(server.template, cache_dir=tmp_path / "c") as http:
        want = [http.crop(lat, lon, 200, MPP) for lat, lon in points]
    for spec in specs:
        with open_tile_source(spec) as src:
            for (lat, lon), ref in zip(points, want):
                got = src.crop(lat, lon, 200, MPP)
                np.testing.assert_array_equal(got.image, ref.image, err_msg=spec)
                np.testing.assert_array_equal(got.valid_mask, ref.valid_mask)
                assert got.zoom == ref.zoom == 19
    # the last crop hangs over the ortho's south-east corner (east 80 m, south 72 m): beyond is not valid
    edge = want[2].valid_mask
    assert edge[:145, :145].all() and not edge[:, 155:].any() and not edge[165:, :].any()


def test_tms_row_template_for_folders(tmp_path, pyramid, enu_to_latlon):
    import shutil

    from geodistill_ros import geometry as geo

    for z in (18, 19):
        for xdir in (pyramid["tiles"] / str(z)).iterdir():
            for f in xdir.iterdir():
                dst = tmp_path / "tms" / str(z) / xdir.name / f"{geo.tms_row(int(f.stem), z)}.png"
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(f, dst)
    lat, lon = enu_to_latlon(3.0, -4.0)
    with open_tile_source(str(pyramid["tiles"])) as a, open_tile_source(str(tmp_path / "tms/{z}/{x}/{-y}.png")) as b:
        np.testing.assert_array_equal(a.crop(lat, lon, 100, MPP).image, b.crop(lat, lon, 100, MPP).image)


def test_mbtiles_is_opened_read_only(pyramid):
    with open_tile_source(str(pyramid["mbtiles"])) as src:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            src.provider._con.execute("DELETE FROM tiles")
        assert src.provider.info.min_zoom == 16 and src.provider.info.max_zoom == 19
        assert src.provider.info.bounds is not None


def test_out_of_coverage_is_known_from_bounds(pyramid):
    for spec in (str(pyramid["tiles"]), str(pyramid["mbtiles"])):
        with open_tile_source(spec) as src, pytest.raises(TileOutOfCoverage):
            src.crop(-10.0, 20.0, 256, MPP)


def test_bad_sources_are_typed(tmp_path):
    (tmp_path / "junk.mbtiles").write_bytes(b"not sqlite at all" * 100)
    (tmp_path / "empty").mkdir()
    vec = tmp_path / "vector.mbtiles"
    con = sqlite3.connect(str(vec))
    con.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
    con.execute("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB)")
    con.execute("INSERT INTO metadata VALUES ('format', 'pbf')")
    con.execute("INSERT INTO tiles VALUES (0, 0, 0, x'00')")
    con.commit()
    con.close()
    for spec in [tmp_path / "missing.mbtiles", tmp_path / "junk.mbtiles", vec, tmp_path / "empty",
                 tmp_path / "nothing_here", "ftp://example.test/{z}/{x}/{y}.png", "file://host/x/{z}/{x}/{y}.png",
                 tmp_path / "missing.tif"]:
        with pytest.raises(TileSourceError):
            open_tile_source(str(spec))
    with pytest.raises(TileSourceError):
        open_tile_source(str(tmp_path), not_an_option=3)
