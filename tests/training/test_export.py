"""geodistill export: model.json from checkpoints, the written files, on-the-spot verification, the CLI."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import onnx
import pytest
import tiny_torch_models as tiny  # on sys.path through tests/conftest.py
import torch

from geodistill_ros.inference.model_files import CONVENTIONS, graph_io
from training import export
from training.tensorrt_build import (
    TensorRTBuildError,
    build_model_engines,
    input_profiles,
    satellite_profile,
)


@pytest.fixture
def exported(tiny_export):
    return tiny_export


def test_model_json_from_checkpoints():
    loc_bundle, ori_bundle = tiny.bundles()
    meta = export.build_model_json(loc_bundle, ori_bundle)
    assert meta["sat_size_px"] == meta["search_size_px"] == tiny.SAT_SIZE_PX  # search defaults to training size
    assert meta["orientation"] == {"bins": 90, "range_deg": 90.0, "sat_size_px": tiny.ORIENTATION_SAT_PX}
    assert meta["posterior_temperature"] == 0.05  # found in the checkpoint config
    assert meta["conventions"] == CONVENTIONS and meta["format_version"] == 1
    assert meta["config_hash"] == export.config_hash(loc_bundle["config"], ori_bundle["config"])
    assert meta["config_hash"] != export.config_hash({"other": 1}, ori_bundle["config"])
    del loc_bundle["config"]["eval"]
    meta = export.build_model_json(loc_bundle, ori_bundle, {"search_size_px": 128})
    assert meta["posterior_temperature"] == tiny.TEMPERATURE and not meta["posterior_temperature_calibrated"]
    assert meta["position_offset_rc_px"] == [0.0, 0.0] and not meta["position_offset_calibrated"]
    loc_bundle["meta"]["position_offset_rc_px"] = [0.5, -1.25]  # what `geodistill eval` stored
    meta = export.build_model_json(loc_bundle, ori_bundle)
    assert meta["position_offset_rc_px"] == [0.5, -1.25] and meta["position_offset_calibrated"]


def test_model_json_reports_what_is_missing():
    loc_bundle, ori_bundle = tiny.bundles()
    del loc_bundle["meta"]["camera_height_m"]
    with pytest.raises(export.ExportError, match=r"\['camera_height_m'\].*--set"):
        export.build_model_json(loc_bundle, ori_bundle)
    assert export.build_model_json(loc_bundle, ori_bundle, {"camera_height_m": 1.5})["camera_height_m"] == 1.5
    with pytest.raises(export.ExportError, match="multiples of 32"):
        export.build_model_json(loc_bundle, ori_bundle, {"camera_height_m": 1.5, "search_size_px": 100})
    assert export.build_model_json(loc_bundle, None, {"camera_height_m": 1.5})["orientation"] is None


def test_orientation_checkpoint_must_share_the_canvas():
    loc_bundle, ori_bundle = tiny.bundles()
    ori_bundle["meta"]["ground_width_px"] = 2 * tiny.GROUND_HW[1]
    with pytest.raises(export.ExportError, match="orientation checkpoint has ground_width_px = 128"):
        export.build_model_json(loc_bundle, ori_bundle)


def test_written_files_follow_the_contract(exported):
    out, report = exported
    meta = json.loads((out / "model.json").read_text())
    assert meta == report["meta"]
    assert meta["sat_feat_strides_px"] == [4, 8] and meta["sat_size_range_px"] == [64, 256]
    for graph, (inputs, outputs) in graph_io(meta).items():
        proto = onnx.load(str(out / f"{graph}.onnx"))
        assert [i.name for i in proto.graph.input] == inputs
        assert [o.name for o in proto.graph.output] == outputs
        assert next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
        embedded = {p.key: p.value for p in proto.metadata_props}
        assert json.loads(embedded["geodistill"]) == meta  # metadata round-trip
        extra = {"geodistill.json": ""}
        torch.export.load(str(out / f"{graph}.pt2"), extra_files=extra)
        assert json.loads(extra["geodistill.json"]) == meta
    sat_dims = onnx.load(str(out / "satellite_encoder.onnx")).graph.input[0].type.tensor_type.shape.dim
    assert sat_dims[2].dim_param and sat_dims[2].dim_param == sat_dims[3].dim_param  # dynamic, square


def test_export_verifies_parity_on_the_spot(exported):
    checks = exported[1]["verification"]
    assert set(checks) == {f"{b}/{c}" for b in ("onnxruntime", "torch")
                           for c in ("prob@64px", "prob@128px", "yaw_prob")}
    assert all(c["max_abs_diff"] <= 1e-4 and c["same_argmax"] for c in checks.values())


def test_verification_catches_a_different_model(exported):
    other_loc, other_ori = tiny.make_models(seed=1)
    with pytest.raises(export.ExportError, match=r"onnxruntime/prob@64px: max abs difference"):
        export.verify_export(exported[0], other_loc, other_ori, exported[1]["meta"], 1e-4)


def test_untraceable_feature_stride_is_refused(tmp_path):
    loc_bundle, ori_bundle = tiny.bundles()
    meta = export.build_model_json(loc_bundle, ori_bundle)
    loc = loc_bundle["localizer"]
    loc.encode_satellite = lambda sat: [torch.zeros(1, 8, 5, 5)]  # 64 px -> 5 cells: stride 12.8
    with pytest.raises(export.ExportError, match="stride must be an integer"):
        export.export_model(loc, ori_bundle["orientation"], meta, tmp_path)


def test_cli_exports_checkpoints(tmp_path, monkeypatch, capsys):
    """`geodistill export` end to end, with training.models.load_checkpoint faked by the tiny bundles."""
    loc_bundle, ori_bundle = tiny.bundles()
    fake = types.ModuleType("training.models")
    fake.load_checkpoint = lambda path: {"student.pt": loc_bundle, "orientation.pt": ori_bundle}[Path(path).name]
    monkeypatch.setitem(sys.modules, "training.models", fake)
    for name in ("student.pt", "orientation.pt"):
        (tmp_path / name).write_bytes(b"x")
    from geodistill_ros.cli import main

    args = ["export", "--localizer", str(tmp_path / "student.pt"), "--orientation", str(tmp_path / "orientation.pt"),
            "--out", str(tmp_path / "model"), "--set", "search_size_px=96", "--max-sat-size", "128", "--no-pt2",
            "--eval", str(tmp_path / "eval.json")]
    evaluation = {"fov": {"360": {"median_m": 1.25, "n": 10}}, "posterior_temperature": 0.07, "plots": ["x.png"],
                  "position_offset_rc_px": [0.25, -0.5]}
    (tmp_path / "eval.json").write_text(json.dumps(evaluation))
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "verified onnxruntime/prob@96px" in printed and "wrote" in printed
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "ground_matcher.onnx", "model.json", "orientation.onnx", "satellite_encoder.onnx"]
    meta = json.loads((tmp_path / "model" / "model.json").read_text())
    assert meta["search_size_px"] == 96
    assert meta["evaluation"] == {"fov": {"360": {"median_m": 1.25, "n": 10}}, "posterior_temperature": 0.07,
                                  "position_offset_rc_px": [0.25, -0.5]}
    assert meta["posterior_temperature"] == 0.07 and meta["posterior_temperature_calibrated"]
    assert meta["position_offset_rc_px"] == [0.25, -0.5] and meta["position_offset_calibrated"]
    (tmp_path / "eval.json").write_text("{}")
    assert main(args) == 1 and "not a `geodistill eval` result" in capsys.readouterr().out
    assert main(["export", "--localizer", str(tmp_path / "nope.pt"), "--no-orientation"]) == 2


def test_tensorrt_profiles_follow_the_feature_strides(exported):
    meta = exported[1]["meta"]
    sides = satellite_profile(meta, max_sat_size_px=256)
    assert sides == (64, 128, 256)
    shapes = {"ground": (1, 3, 32, 64), "ground_mask": (1, 1, 32, 64), "sat_feat_0": (1, 8, -1, -1),
              "sat_feat_1": (1, 8, -1, -1)}
    profiles = input_profiles("ground_matcher", shapes, meta, sides)
    assert profiles["ground"] == ((1, 3, 32, 64),) * 3
    assert profiles["sat_feat_0"] == ((1, 8, 16, 16), (1, 8, 32, 32), (1, 8, 64, 64))
    assert profiles["sat_feat_1"] == ((1, 8, 8, 8), (1, 8, 16, 16), (1, 8, 32, 32))
    with pytest.raises(ValueError, match="multiple of 32"):
        satellite_profile(meta, max_sat_size_px=300)


def test_large_weights_go_to_an_external_data_file(tmp_path):
    loc_bundle, ori_bundle = tiny.bundles()
    meta = export.build_model_json(loc_bundle, ori_bundle)
    cfg = export.ExportConfig(external_data_mb=0.0, write_pt2=False, max_sat_size_px=64)
    report = export.export_model(loc_bundle["localizer"], ori_bundle["orientation"], meta, tmp_path, cfg)
    assert (tmp_path / "satellite_encoder.onnx.data").is_file()
    assert str(tmp_path / "satellite_encoder.onnx.data") in report["files"]
    assert np.isfinite(report["verification"]["onnxruntime/prob@64px"]["max_abs_diff"])


def test_localizer_only_export(tmp_path):
    from geodistill_ros.inference import ModelMismatchError, load_model

    loc_bundle, _ = tiny.bundles()
    meta = export.build_model_json(loc_bundle, None)
    cfg = export.ExportConfig(write_pt2=False, max_sat_size_px=64)
    export.export_model(loc_bundle["localizer"], None, meta, tmp_path, cfg)
    assert not (tmp_path / "orientation.onnx").exists()
    model = load_model(tmp_path, backend="onnxruntime")
    assert not model.has_orientation
    with pytest.raises(ModelMismatchError, match="no orientation network"):
        model.orientation(np.zeros((1, 3, 32, 32), np.float32), np.zeros((1, 3, 32, 64), np.float32),
                          np.zeros((1, 1, 32, 64), np.float32))


def test_tensorrt_build_without_tensorrt_says_so(exported, capsys):
    import importlib.util

    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("tensorrt is installed here")
    with pytest.raises(TensorRTBuildError, match="tensorrt is not installed"):
        build_model_engines(exported[0])
    from training.tensorrt_build import main as trt_main

    assert trt_main([str(exported[0])]) == 1
    assert "error: tensorrt is not installed" in capsys.readouterr().out
    assert not list(exported[0].glob("*.engine"))
