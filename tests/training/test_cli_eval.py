"""`geodistill eval` end to end on the tiny flat world: the JSON contract, the stored calibration, the offset."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from training import cli_eval, offset_calibration
from training.checkpoint import load_raw, save_checkpoint
from training.evaluate import METRIC_KEYS
from training.models import build_localizer, build_orientation


@pytest.fixture
def checkpoint(tmp_path, flat_root, tiny):
    cfg = tiny(flat_root)
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "weak.pt", kind="localizer", model=build_localizer(cfg.model), cfg=cfg,
                           step=0)


def _eval(checkpoint, flat_root, out, *extra):
    return cli_eval.main(["--checkpoint", str(checkpoint), "--data", str(flat_root), "--out", str(out),
                          "--fov", "360", "90", "--max-samples", "4", "--calib-samples", "4", "--no-plots",
                          "--threads", "1", *extra])


def test_eval_writes_every_metric_and_stores_its_calibration(checkpoint, flat_root, tmp_path, monkeypatch):
    calls = []

    def fake_calibration(localizer, dataset, max_samples, **kw):  # the real one is tested on its own
        calls.append(max_samples)
        return {"offset_rc_px": [1.5, -0.5], "n_used": 3, "n_total": 4, "mad_rc_px": [0.1, 0.1]}

    monkeypatch.setattr(offset_calibration, "calibrate_offset", fake_calibration)
    assert _eval(checkpoint, flat_root, tmp_path / "m.json", "--offset-samples", "4") == 0
    result = json.loads((tmp_path / "m.json").read_text())
    assert set(result["fov"]) == {"360", "90"}
    for entry in result["fov"].values():
        assert set(entry) == set(METRIC_KEYS) and entry["n"] == 4
    assert calls == [4]
    assert result["by_city"] and sum(per["360"]["n"] for per in result["by_city"].values()) == 4
    assert result["position_offset_rc_px"] == [1.5, -0.5]
    assert result["position_offset"]["source"] == "half-turn calibration"
    state = load_raw(checkpoint)
    assert state["position_offset_rc_px"] == [1.5, -0.5]
    assert state["posterior_temperature"] == pytest.approx(result["posterior_temperature"])


def test_a_given_offset_moves_every_estimate_and_is_not_stored(checkpoint, flat_root, tmp_path):
    assert _eval(checkpoint, flat_root, tmp_path / "a.json", "--no-offset", "--temperature", "0.1") == 0
    assert _eval(checkpoint, flat_root, tmp_path / "b.json", "--offset", "40", "40", "--temperature", "0.1") == 0
    a, b = (json.loads((tmp_path / f"{n}.json").read_text()) for n in "ab")
    assert a["position_offset_rc_px"] == [0.0, 0.0] and b["position_offset_rc_px"] == [40.0, 40.0]
    assert a["fov"]["360"]["mean_m"] != b["fov"]["360"]["mean_m"]
    assert "position_offset_rc_px" not in load_raw(checkpoint) and "posterior_temperature" not in load_raw(checkpoint)


def test_failed_offset_calibration_is_a_clear_error(checkpoint, flat_root, tmp_path, monkeypatch, capsys):
    def failing(*a, **kw):
        raise ValueError("no pair's half-turn answers agree within 10.0 px: nothing to calibrate")

    monkeypatch.setattr(offset_calibration, "calibrate_offset", failing)
    assert _eval(checkpoint, flat_root, tmp_path / "m.json") == 2
    assert "offset calibration failed" in capsys.readouterr().err and not (tmp_path / "m.json").exists()


def test_no_progress_silences_the_progress_bars(checkpoint, flat_root, tmp_path, capsys):
    assert _eval(checkpoint, flat_root, tmp_path / "a.json", "--temperature", "0.1", "--offset-samples", "4") == 0
    assert "eval:" in capsys.readouterr().err
    assert _eval(checkpoint, flat_root, tmp_path / "b.json", "--temperature", "0.1", "--offset-samples", "4",
                 "--no-progress") == 0
    err = capsys.readouterr().err
    assert "eval:" not in err and "offset:" not in err


def test_yaw_metrics_need_an_orientation_net_of_the_same_canvas(checkpoint, flat_root, tmp_path, tiny, capsys):
    cfg = tiny(flat_root)
    torch.manual_seed(0)
    same = save_checkpoint(tmp_path / "ori.pt", kind="orientation", cfg=cfg, step=0,
                           model=build_orientation(cfg.orientation, cfg.model))
    wide = dataclasses.replace(cfg.model, ground_height_px=2 * cfg.model.ground_height_px,
                               ground_width_px=2 * cfg.model.ground_width_px)
    other = save_checkpoint(tmp_path / "ori_wide.pt", kind="orientation", cfg=dataclasses.replace(cfg, model=wide),
                            step=0, model=build_orientation(cfg.orientation, wide))
    assert _eval(checkpoint, flat_root, tmp_path / "m.json", "--orientation", str(same)) == 0
    assert json.loads((tmp_path / "m.json").read_text())["fov"]["90"]["yaw_median_deg"] is not None
    capsys.readouterr()
    assert _eval(checkpoint, flat_root, tmp_path / "bad.json", "--orientation", str(other)) == 2
    assert "orientation checkpoint has ground_height_px = 64, the localizer 32" in capsys.readouterr().err
    assert not (tmp_path / "bad.json").exists()


def test_photometric_level_is_evaluated_and_stored_with_its_calibration(checkpoint, flat_root, tmp_path, capsys):
    assert _eval(checkpoint, flat_root, tmp_path / "off.json", "--no-offset", "--temperature", "0.1",
                 "--no-store") == 0
    assert _eval(checkpoint, flat_root, tmp_path / "on.json", "--no-offset", "--photometric-weight", "2.0",
                 "--photometric-stride", "4") == 0
    off, on = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("off", "on"))
    assert off["photometric"]["weight"] == 0.0
    assert on["photometric"] == {"weight": 2.0, "stride": 4, "template_fraction": 0.4}
    assert on["fov"]["360"]["mean_m"] != off["fov"]["360"]["mean_m"]  # the raw pixels moved the estimates
    state = load_raw(checkpoint)  # the temperature fitted with the level is stored together with the level
    assert state["model_args"]["model"]["photometric_weight"] == 2.0
    assert state["model_args"]["model"]["photometric_stride"] == 4
    assert state["posterior_temperature"] == pytest.approx(on["posterior_temperature"])
    from training.models import load_checkpoint
    assert load_checkpoint(checkpoint)["localizer"].n_sat_maps == 3
    assert _eval(checkpoint, flat_root, tmp_path / "bad.json", "--photometric-weight", "1", "--photometric-stride",
                 "3", "--no-store") == 2
    assert "must divide the finest level stride" in capsys.readouterr().err


def test_level_attitude_needs_recorded_attitudes(checkpoint, flat_root, tmp_path, capsys):
    assert _eval(checkpoint, flat_root, tmp_path / "m.json", "--level-attitude") == 2
    assert "attitude.json is missing" in capsys.readouterr().err


def test_gps_positioned_data_is_refused_for_metrics_and_the_temperature(checkpoint, flat_root, tmp_path, capsys):
    import shutil

    gps_root = tmp_path / "gps"
    shutil.copytree(flat_root, gps_root)
    city = next(p.parent.name for p in gps_root.glob("*/panorama"))
    meta_path = gps_root / city / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    meta_path.write_text(json.dumps({**meta, "positions": "gps"}))  # as geodistill bag-dataset marks it
    assert _eval(checkpoint, gps_root, tmp_path / "m.json", "--no-offset", "--temperature", "0.1") == 2
    assert "GPS fixes" in capsys.readouterr().err
    # as calibration data: the offset needs no positions, the temperature fit does
    assert _eval(checkpoint, flat_root, tmp_path / "n.json", "--calib-data", str(gps_root), "--no-offset") == 2
    assert "temperature fit" in capsys.readouterr().err
    assert _eval(checkpoint, flat_root, tmp_path / "o.json", "--calib-data", str(gps_root), "--no-offset",
                 "--temperature", "0.1") == 0
