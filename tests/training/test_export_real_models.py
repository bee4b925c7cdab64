"""Export the project's real networks (training.models, small random-initialised configs) and check parity."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

models = pytest.importorskip("training.models", reason="training.models is not importable")
from geodistill_ros.inference import load_model  # noqa: E402
from training.checkpoint import save_checkpoint  # noqa: E402
from training.config import ModelConfig, OrientationConfig, TrainConfig  # noqa: E402
from training.export import ExportConfig, example_inputs, export_checkpoints, ship_checkpoints  # noqa: E402


@pytest.fixture(scope="module")
def real_export(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("real")
    torch.manual_seed(0)
    cfg = TrainConfig(model=ModelConfig(sat_size_px=128, ground_height_px=64, ground_width_px=128,
                                        sat_channels=(8, 8, 16, 16), ground_channels=(8, 8, 16)),
                      orientation=OrientationConfig(sat_size_px=64, channels=(8, 16)))
    loc = models.build_localizer(cfg.model).eval()
    ori = models.build_orientation(cfg.orientation, cfg.model).eval()
    optimizer = torch.optim.SGD(loc.parameters(), lr=0.1, momentum=0.9)  # state the shipped copies leave out
    save_checkpoint(tmp / "student.pt", kind="localizer", model=loc, cfg=cfg, step=1, optimizer=optimizer,
                    metrics={"posterior_temperature": 0.25})
    save_checkpoint(tmp / "orientation.pt", kind="orientation", model=ori, cfg=cfg, step=1)
    report = export_checkpoints(tmp / "student.pt", tmp / "orientation.pt", tmp / "model",
                                {"search_size_px": 192}, ExportConfig(max_sat_size_px=256, write_pt2=False))
    return tmp / "model", report, loc, ori


def test_model_json_of_the_real_networks(real_export):
    model_dir, report, loc, _ = real_export
    meta = json.loads((model_dir / "model.json").read_text())
    assert meta["sat_size_px"] == 128 and meta["search_size_px"] == 192
    assert meta["prob_stride_px"] == loc.prob_stride_px and meta["prob_origin_px"] == loc.prob_origin_px
    assert meta["sat_feat_strides_px"] == list(loc.strides)
    assert meta["orientation"] == {"bins": 90, "range_deg": 90.0, "sat_size_px": 64}  # full width of the bins
    assert meta["posterior_temperature"] == 0.25 and meta["posterior_temperature_calibrated"]
    assert all(c["max_abs_diff"] <= 1e-4 and c["same_argmax"] for c in report["verification"].values())


def test_real_networks_onnxruntime_parity(real_export):
    model_dir, _, loc, ori = real_export
    model = load_model(model_dir, backend="onnxruntime", threads=1)
    x = example_inputs(model.meta, sat_size_px=256, seed=3)
    with torch.no_grad():
        want = loc.match(x["ground"], x["ground_mask"], loc.encode_satellite(x["satellite"]))["prob"].numpy()
        want_yaw = ori(x["orientation_satellite"], x["ground"], x["ground_mask"]).numpy()
    got = model.match(x["ground"].numpy(), x["ground_mask"].numpy(), model.encode_satellite(x["satellite"].numpy()))
    assert got["prob"].shape == (1, 64, 64)
    assert np.abs(got["prob"] - want).max() <= 1e-4 and np.argmax(got["prob"]) == np.argmax(want)
    yaw = model.orientation(x["orientation_satellite"].numpy(), x["ground"].numpy(), x["ground_mask"].numpy())
    np.testing.assert_allclose(yaw, want_yaw, atol=1e-4)
    assert np.argmax(yaw) == np.argmax(want_yaw)


def test_model_json_keeps_the_training_config_and_code_version(real_export):
    model_dir, _, _, _ = real_export
    meta = json.loads((model_dir / "model.json").read_text())
    loc_record, ori_record = meta["training"]["localizer"], meta["training"]["orientation"]
    assert loc_record["config"]["model"]["sat_size_px"] == 128 and loc_record["step"] == 1
    assert ori_record["config"]["orientation"]["sat_size_px"] == 64
    assert loc_record["config_hash"] == meta["config_hash"]
    assert meta["code_version"].startswith("geodistill_ros ") and "(git " in meta["code_version"]


def test_shipped_checkpoints_are_slim_and_load(real_export, tmp_path):
    model_dir, _, loc, _ = real_export
    src = model_dir.parent
    written = ship_checkpoints(src / "student.pt", src / "orientation.pt", tmp_path)
    assert sorted(p.name for p in written) == ["orientation.pt", "weak.pt"]  # named by the training stage
    raw = torch.load(tmp_path / "weak.pt", weights_only=False)
    assert "optimizer" not in raw and raw["metrics"]["posterior_temperature"] == 0.25
    bundle = models.load_checkpoint(tmp_path / "weak.pt")
    for name, value in loc.state_dict().items():
        assert torch.equal(bundle["localizer"].state_dict()[name], value)
    assert "orientation" in models.load_checkpoint(tmp_path / "orientation.pt")


def test_instance_input_norm_exports_with_parity(tmp_path):
    torch.manual_seed(1)
    cfg = TrainConfig(model=ModelConfig(sat_size_px=128, ground_height_px=64, ground_width_px=128,
                                        sat_channels=(8, 8, 16, 16), ground_channels=(8, 8, 16),
                                        input_norm="instance"))
    loc = models.build_localizer(cfg.model).eval()
    save_checkpoint(tmp_path / "student.pt", kind="localizer", model=loc, cfg=cfg, step=1)
    report = export_checkpoints(tmp_path / "student.pt", None, tmp_path / "model", {"search_size_px": 192},
                                ExportConfig(max_sat_size_px=256, write_pt2=False))
    assert all(c["max_abs_diff"] <= 1e-4 and c["same_argmax"] for c in report["verification"].values())
    meta = json.loads((tmp_path / "model" / "model.json").read_text())
    assert meta["training"]["localizer"]["config"]["model"]["input_norm"] == "instance"
    model = load_model(tmp_path / "model", backend="onnxruntime", threads=1)
    x = example_inputs(model.meta, sat_size_px=256, seed=4)
    x["ground_mask"][..., :, 64:] = 0.0  # a pinhole-like half canvas: statistics over the visible part only
    with torch.no_grad():
        want = loc.match(x["ground"], x["ground_mask"], loc.encode_satellite(x["satellite"]))["prob"].numpy()
    got = model.match(x["ground"].numpy(), x["ground_mask"].numpy(), model.encode_satellite(x["satellite"].numpy()))
    assert np.abs(got["prob"] - want).max() <= 1e-4 and np.argmax(got["prob"]) == np.argmax(want)


def test_photometric_level_exports_with_onnxruntime_parity(tmp_path):
    """The parameter-free raw-pixel level travels inside the ONNX graphs: one more satellite map (stride 2)."""
    torch.manual_seed(1)
    cfg = TrainConfig(model=ModelConfig(sat_size_px=128, ground_height_px=64, ground_width_px=128,
                                        sat_channels=(8, 8, 16, 16), ground_channels=(8, 8, 16),
                                        photometric_weight=1.0))
    loc = models.build_localizer(cfg.model).eval()
    save_checkpoint(tmp_path / "student.pt", kind="localizer", model=loc, cfg=cfg, step=1,
                    metrics={"posterior_temperature": 0.25})
    report = export_checkpoints(tmp_path / "student.pt", None, tmp_path / "model", {"search_size_px": 192},
                                ExportConfig(max_sat_size_px=256, write_pt2=False))
    meta = json.loads((tmp_path / "model" / "model.json").read_text())
    assert meta["levels"] == 3 and meta["sat_feat_strides_px"] == [8, 4, 2]
    assert meta["photometric"] == {"weight": 1.0, "stride_px": 2, "template_fraction": 0.4}
    assert all(c["max_abs_diff"] <= 1e-4 and c["same_argmax"] for c in report["verification"].values())
    model = load_model(tmp_path / "model", backend="onnxruntime", threads=1)
    x = example_inputs(model.meta, sat_size_px=256, seed=4)
    with torch.no_grad():
        want = loc.match(x["ground"], x["ground_mask"], loc.encode_satellite(x["satellite"]))["prob"].numpy()
    got = model.match(x["ground"].numpy(), x["ground_mask"].numpy(), model.encode_satellite(x["satellite"].numpy()))
    assert np.abs(got["prob"] - want).max() <= 1e-4 and np.argmax(got["prob"]) == np.argmax(want)
