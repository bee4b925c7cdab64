"""The torch backend runs the .pt2 programs; torch is imported only when that backend is chosen."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import tiny_torch_models as tiny

from geodistill_ros.inference import load_model

pytest.importorskip("torch", reason="the torch backend needs torch")


def test_torch_backend_matches_onnxruntime(tiny_export):
    ort_model = load_model(tiny_export[0], backend="onnxruntime", threads=1)
    torch_model = load_model(tiny_export[0], backend="torch", threads=1)
    assert torch_model.backend_name == "torch-cpu"
    x = {k: v.numpy() for k, v in tiny.random_inputs(seed=5, sat_size_px=160).items()}
    results = []
    for model in (ort_model, torch_model):
        feats = model.encode_satellite(x["satellite"])
        out = model.match(x["ground"], x["ground_mask"], feats)
        yaw = model.orientation(x["orientation_satellite"], x["ground"], x["ground_mask"])
        results.append((out["prob"], yaw))
    assert np.abs(results[0][0] - results[1][0]).max() <= 1e-4
    assert np.argmax(results[0][0]) == np.argmax(results[1][0])
    np.testing.assert_allclose(results[0][1], results[1][1], atol=1e-4)


def test_runtime_imports_no_torch_and_no_training(tiny_export):
    code = (
        "import sys, numpy as np\n"
        "from geodistill_ros.inference import load_model\n"
        "import geodistill_ros.inference.bench\n"
        f"m = load_model({str(tiny_export[0])!r}, threads=1)\n"
        "m.encode_satellite(np.zeros((1, 3, 64, 64), np.float32))\n"
        "bad = sorted(k for k in sys.modules if k.split('.')[0] in ('torch', 'training'))\n"
        "print(m.backend_name, bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "onnxruntime-cpu []"
