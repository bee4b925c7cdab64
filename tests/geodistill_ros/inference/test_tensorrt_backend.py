"""TensorRT: build engines from the tiny model, load them, compare with ONNX Runtime.

These need the ``tensorrt`` package, cuda-python and a GPU; without them they skip and say so (TensorRT
cannot be installed in the project's CI machine, so this path is untested there).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tiny_torch_models as tiny

from geodistill_ros.inference import load_model

pytestmark = [pytest.mark.tensorrt, pytest.mark.gpu]
trt = pytest.importorskip("tensorrt", reason="tensorrt is not installed (TensorRT tests need it and a GPU)")


@pytest.fixture(scope="module")
def engines(tiny_export, tmp_path_factory):
    import shutil

    from training.tensorrt_build import build_model_engines

    model_dir = shutil.copytree(tiny_export[0], tmp_path_factory.mktemp("trt") / "model")
    return model_dir, build_model_engines(model_dir, fp16=False, workspace_mb=256, max_sat_size_px=256)


def test_engine_description(engines):
    model_dir, files = engines
    assert [f.name for f in files] == ["satellite_encoder.engine", "ground_matcher.engine", "orientation.engine"]
    info = json.loads((model_dir / "satellite_encoder.engine.json").read_text())
    assert info["tensorrt_version"] == trt.__version__ and info["precision"] == "fp32"
    assert info["profile"]["satellite"] == [[1, 3, 64, 64], [1, 3, 128, 128], [1, 3, 256, 256]]
    assert info["gpu_name"]


def test_tensorrt_matches_onnxruntime(engines):
    model_dir, _ = engines
    trt_model = load_model(model_dir)  # auto picks TensorRT first
    assert trt_model.backend_name == "tensorrt"
    ort_model = load_model(model_dir, backend="onnxruntime")
    x = {k: v.numpy() for k, v in tiny.random_inputs(seed=9, sat_size_px=128).items()}
    got, want = (m.match(x["ground"], x["ground_mask"], m.encode_satellite(x["satellite"]))
                 for m in (trt_model, ort_model))
    assert np.abs(got["prob"] - want["prob"]).max() <= 1e-3
    assert np.argmax(got["prob"]) == np.argmax(want["prob"])
    yaw = [m.orientation(x["orientation_satellite"], x["ground"], x["ground_mask"]) for m in (trt_model, ort_model)]
    np.testing.assert_allclose(yaw[0], yaw[1], atol=1e-3)
