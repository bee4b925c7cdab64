"""HTTP provider against a real server on 127.0.0.1: crops, concurrency, outages, timeouts, bad answers."""

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from geodistill_ros.tiles import (
    Crop,
    TileContentTypeError,
    TileDecodeError,
    TileError,
    TileForbidden,
    TileHTTPError,
    TileNotFound,
    TileOutOfCoverage,
    TileRedirectError,
    TileServerDown,
    TileSourceError,
    TileTimeout,
    TileTooLarge,
    open_tile_source,
)
from geodistill_ros.tiles.loopback import LoopbackTileServer

MPP = 0.2


def _open(server, tmp_path, **kw):
    opts = {"max_retries": 0, "backoff_s": 0.01, "failure_retry_s": 0.0}
    opts.update(kw)
    timeout_s = opts.pop("timeout_s", 2.0)
    return open_tile_source(opts.pop("template", server.template), cache_dir=tmp_path / "cache",
                            timeout_s=timeout_s, **opts)


def _blurred_mad(a, b):
    blur = lambda im: cv2.GaussianBlur(im.astype(np.float32), (0, 0), 1.0)  # noqa: E731
    return float(np.abs(blur(a) - blur(b)).mean())


def _a_tile(pyramid, z=19):
    x0, y0, x1, y1 = pyramid["info"]["tile_ranges"][str(z)]
    return z, (x0 + x1) // 2, (y0 + y1) // 2


@pytest.mark.parametrize("east_m,north_m,size_px", [(0.0, 0.0, 256), (21.3, -13.7, 200), (-30.1, 25.55, 128)])
def test_crop_equals_the_orthophoto_and_centre_is_exact(server, tmp_path, expected_patch, enu_to_latlon,
                                                        east_m, north_m, size_px):
    lat, lon = enu_to_latlon(east_m, north_m)
    with _open(server, tmp_path) as src:
        crop = src.crop(lat, lon, size_px, MPP)
    assert isinstance(crop, Crop) and crop.image.shape == (size_px, size_px, 3) and crop.image.dtype == np.uint8
    assert crop.valid_mask.all() and crop.zoom == 19 and not crop.missing_tiles
    # equal up to resampling: compare after a light blur (two bilinear resamplings vs one)
    diff = _blurred_mad(crop.image, expected_patch(east_m, north_m, size_px))
    shifted = _blurred_mad(crop.image, expected_patch(east_m + MPP, north_m, size_px))
    assert diff < 1.5, diff
    assert shifted > 3 * diff  # and sensitive to a 1-px error
    c_lat, c_lon = crop.pixel_to_latlon(size_px / 2, size_px / 2)
    assert abs(c_lat - lat) < 1e-10 and abs(c_lon - lon) < 1e-10
    row, col = crop.latlon_to_pixel(*enu_to_latlon(east_m + 3.0, north_m + 4.0))
    # (tangent planes about the datum and about the crop centre differ by ~1e-5 m here)
    assert abs(row - (size_px / 2 - 20.0)) < 1e-3 and abs(col - (size_px / 2 + 15.0)) < 1e-3


def test_sharp_marker_lands_within_a_pixel(tmp_path):
    from geodistill_ros import geometry as geo
    from geodistill_ros.tiles.pyramid import write_tile_pyramid

    lat0, lon0, mpp = -33.8688, 151.2093, 0.25
    image = np.full((400, 400, 3), 40, np.uint8)
    image[130:133, 251:254] = 255  # continuous centre (131.5, 252.5)
    marker_e, marker_n = (252.5 - 200) * mpp, (200 - 131.5) * mpp
    write_tile_pyramid(image, lat0, lon0, mpp, tmp_path / "tiles", [18, 19])
    with LoopbackTileServer(tmp_path / "tiles") as srv, _open(srv, tmp_path) as src:
        lat, lon, _ = geo.enu_to_geodetic(5.3, 9.1, 0.0, lat0, lon0)
        crop = src.crop(float(lat), float(lon), 160, 0.2)
    mlat, mlon, _ = geo.enu_to_geodetic(marker_e, marker_n, 0.0, lat0, lon0)
    want_row, want_col = crop.latlon_to_pixel(mlat, mlon)
    weight = crop.image[..., 0].astype(np.float64) - 40
    weight[weight < 20] = 0
    rows, cols = np.nonzero(weight)
    wv = weight[rows, cols]
    got_row, got_col = np.sum((rows + 0.5) * wv) / wv.sum(), np.sum((cols + 0.5) * wv) / wv.sum()
    assert abs(got_row - want_row) < 1.0 and abs(got_col - want_col) < 1.0


def test_eight_threads_share_one_source(server, tmp_path, pyramid, enu_to_latlon):
    points = [enu_to_latlon(e, n) for e, n in [(-20, -20), (0, 10), (15, -5), (25, 25)] * 4]
    with open_tile_source(str(pyramid["tiles"])) as ref_src:
        reference = [ref_src.crop(lat, lon, 192, MPP).image for lat, lon in points]
    with _open(server, tmp_path) as src, ThreadPoolExecutor(8) as pool:
        images = list(pool.map(lambda p: src.crop(p[0], p[1], 192, MPP).image, points))
    for got, want in zip(images, reference):
        np.testing.assert_array_equal(got, want)
    assert len(server.requests) == len(set(server.requests))  # every tile fetched once


def test_server_stopped_mid_run_gives_typed_errors_and_failed_tiles_are_retried_later(pyramid, tmp_path,
                                                                                       enu_to_latlon):
    srv = LoopbackTileServer(pyramid["tiles"]).start()
    srv.delay_s = 0.05  # slow enough that the outage lands mid-run
    port = srv.port
    src = _open(srv, tmp_path, failure_retry_s=0.3, max_retries=1)
    rng = np.random.default_rng(0)
    outcomes = [src.crop(*enu_to_latlon(0.0, 0.0), 128, MPP)]  # before the outage
    served_before = len(srv.requests)

    def worker(i):
        for _ in range(6):
            e, n = rng.uniform(-60, 60, 2)
            try:
                outcomes.append(src.crop(*enu_to_latlon(e, n), 128, MPP))
            except Exception as exc:  # noqa: BLE001 - recorded to assert on
                outcomes.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while len(srv.requests) < served_before + 4 and time.monotonic() < deadline:
        time.sleep(0.002)
    srv.stop()  # while requests are in flight
    for t in threads:
        t.join(30)
    assert len(outcomes) == 49
    assert all(isinstance(o, (Crop, TileError)) for o in outcomes), [type(o) for o in outcomes]
    hurt = [o for o in outcomes if isinstance(o, TileError) or o.missing_tiles]
    assert hurt and len(hurt) < len(outcomes)  # some crops before the outage, some during it
    assert all("TileServerDown" in m[3] for o in hurt if isinstance(o, Crop) for m in o.missing_tiles)
    tile = (19, *pyramid["info"]["tile_ranges"]["19"][2:])  # the last corner tile
    src.memory.clear()
    src.disk.delete(src.provider.provider_id, *tile)
    with pytest.raises(TileServerDown):
        src.get_tile(*tile)
    assert src.disk.get(src.provider.provider_id, *tile) is None  # never cached as good
    srv2 = LoopbackTileServer(pyramid["tiles"], port=port).start()
    try:
        with pytest.raises(TileServerDown):
            src.get_tile(*tile)  # remembered failure: not asked again at once
        assert srv2.requests == []
        time.sleep(0.35)
        assert src.get_tile(*tile).shape[:2] == (256, 256)  # retried later, succeeds
        assert len(srv2.requests) == 1
    finally:
        src.close()
        srv2.stop()


def test_slow_server_hits_the_timeout(server, tmp_path, pyramid):
    server.delay_s = 1.0
    with _open(server, tmp_path, timeout_s=0.2, max_retries=1) as src:
        t0 = time.perf_counter()
        with pytest.raises(TileTimeout):
            src.get_tile(*_a_tile(pyramid))
        elapsed = time.perf_counter() - t0
        assert 0.35 < elapsed < 1.0, elapsed  # two attempts of 0.2 s, not the server's 1 s
        assert len(server.requests) == 2


@pytest.mark.parametrize("mode,error", [
    ({"garbage": True}, TileDecodeError),
    ({"content_type": "text/html"}, TileContentTypeError),
    ({"status": 404}, TileNotFound),
    ({"status": 403}, TileForbidden),
    ({"status": 503}, TileHTTPError),
    ({"redirect_to": "https://127.0.0.1:1"}, TileRedirectError),
])
def test_bad_answers_are_typed_and_never_cached(server, tmp_path, pyramid, mode, error):
    for k, v in mode.items():
        setattr(server, k, v)
    tile = _a_tile(pyramid)
    with _open(server, tmp_path, max_retries=2) as src:
        with pytest.raises(error) as info:
            src.get_tile(*tile)
        assert info.value.tile == tile
        assert len(src.disk) == 0 and len(src.memory) == 0
        if "redirect_to" in mode:
            assert "https" in str(info.value)
        assert len(server.requests) == (3 if mode.get("status") == 503 else 1)  # only 5xx is retried
        for k in mode:
            setattr(server, k, None)
        server.garbage = False
        assert src.get_tile(*tile).shape == (256, 256, 3)  # fine again once the server is
        assert len(src.disk) == 1


def test_oversize_tiles_are_refused(server, tmp_path, pyramid):
    with _open(server, tmp_path, max_tile_bytes=500) as src, pytest.raises(TileTooLarge):
        src.get_tile(*_a_tile(pyramid))


def test_all_tiles_missing_is_out_of_coverage(server, tmp_path):
    with _open(server, tmp_path) as src, pytest.raises(TileOutOfCoverage):
        src.crop(40.0, -74.0, 128, MPP)


def test_dot_dot_templates_cannot_escape_the_cache(server, tmp_path, pyramid, enu_to_latlon):
    before = {p for p in tmp_path.rglob("*")}
    for template in (server.base_url + "/../../../{z}/{x}/{y}.png", server.base_url + "/{z}/../../{z}/{x}/{y}.png",
                     server.base_url + "/%2e%2e/%2e%2e/{z}/{x}/{y}.png"):
        with _open(server, tmp_path, template=template) as src:
            try:
                src.crop(*enu_to_latlon(0, 0), 128, MPP)
            except TileError:
                pass
    after = {p for p in tmp_path.rglob("*")} - before
    cache = tmp_path / "cache"
    assert after, "nothing was cached at all"
    for p in after:
        assert p == cache or cache in p.parents
        if p.is_file():
            assert re.fullmatch(r"[0-9a-f]{62}\.tile", p.name) and re.fullmatch(r"[0-9a-f]{2}", p.parent.name)


def test_user_agent_api_key_and_concurrency_cap(server, tmp_path, pyramid, enu_to_latlon, monkeypatch, caplog):
    secret = "s3cr3t-K3Y-123"
    monkeypatch.setenv("MY_TILE_KEY", secret)
    caplog.set_level("DEBUG")
    server.delay_s = 0.05
    template = server.template + "?key={apikey}"
    with _open(server, tmp_path, template=template, api_key_env="MY_TILE_KEY", user_agent="robot-7/1.0",
               max_concurrency=2) as src:
        assert secret not in src.describe()
        crop = src.crop(*enu_to_latlon(0, 0), 256, MPP)
        assert crop.valid_mask.all()
        assert server.max_active <= 2 and len(server.requests) >= 4
        assert all(r.endswith("?key=" + secret) for r in server.requests)
        assert set(server.user_agents) == {"robot-7/1.0"}
        server.status = 403
        with pytest.raises(TileForbidden) as info:
            src.get_tile(19, 0, 0)
        assert secret not in str(info.value) and "***" in str(info.value)
    assert secret not in caplog.text
    monkeypatch.delenv("MY_TILE_KEY")
    with pytest.raises(TileSourceError, match="MY_TILE_KEY"):
        open_tile_source(template, api_key_env="MY_TILE_KEY")


def test_url_placeholders():
    from geodistill_ros.tiles.http_provider import HttpTileProvider

    p = HttpTileProvider("https://{s}.example.test/{z}/{x}/{-y}.png?q={q}", subdomains="ab")
    assert p.url(3, 5, 2) == "https://b.example.test/3/5/5.png?q=121"  # x=101b, y=010b -> digits 1,2,1
    with pytest.raises(TileSourceError):
        HttpTileProvider("https://example.test/{z}/{x}/{bogus}.png")
    with pytest.raises(TileSourceError):
        HttpTileProvider("https://example.test/{z}/{x}.png")
