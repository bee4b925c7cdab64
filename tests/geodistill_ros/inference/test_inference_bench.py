"""geodistill bench: JSON schema on the tiny model, and its small helpers on known values."""

from __future__ import annotations

import json

import numpy as np
import pytest

from geodistill_ros.cli import main as cli_main
from geodistill_ros.inference import bench


def test_bench_writes_every_backend(tiny_export, tmp_path, capsys):
    out = tmp_path / "bench.json"
    rc = cli_main(["bench", "--model", str(tiny_export[0]), "--backends", "onnxruntime", "torch", "tensorrt",
                   "--frames", "6", "--new-tiles", "2", "--warmup", "1", "--threads", "1", "--out", str(out)])
    assert rc == 0
    report = json.loads(out.read_text())
    assert set(report["backends"]) == {"onnxruntime", "torch", "tensorrt"}
    for name in ("onnxruntime", "torch"):
        entry = report["backends"][name]
        assert entry["available"] and entry["backend_name"] == f"{name}-cpu"
        assert set(entry["end_to_end_ms"]) >= {"p50", "p90", "p99"}
        assert entry["end_to_end_ms"]["n"] == 6 and entry["new_tile_ms"]["n"] == 2
        assert list(entry["stages"]) == list(bench.STAGES)
        assert entry["stages"]["preprocessing"]["n"] == 6 and entry["stages"]["tile_crop"]["n"] == 2
        assert entry["end_to_end_ms"]["p50"] >= entry["stages"]["ground_branch"]["p50"] > 0
        assert entry["fps"] > 0 and 50 < entry["peak_rss_mb"] < 4000
    trt = report["backends"]["tensorrt"]
    assert trt["available"] or "tensorrt" in trt["reason"]
    assert report["speedup_vs_torch"]["onnxruntime"] > 0
    table = capsys.readouterr().out
    assert "onnxruntime-cpu" in table and "torch-cpu" in table


def test_bench_rejects_unknown_backend(tiny_export):
    assert cli_main(["bench", "--model", str(tiny_export[0]), "--backends", "openvino"]) == 2


def test_percentiles():
    p = bench.percentiles(np.arange(1, 101))
    assert (p["p50"], p["n"], p["mean"]) == (50.5, 100, 50.5)
    assert p["p99"] == pytest.approx(99.01)


def test_yaw_correction_bin_centres():
    logits = np.full(90, -50.0)
    logits[45] = 0.0  # bin 45 = +0.5 degrees
    assert bench.yaw_correction_deg(logits, 90, 90.0) == pytest.approx(0.5)
    logits[44] = 0.0  # tie between -0.5 and +0.5
    assert bench.yaw_correction_deg(logits, 90, 90.0) == pytest.approx(0.0)


def test_orientation_patch_is_centred_on_the_continuous_pixel():
    sat = np.zeros((64, 64, 3), np.uint8)
    sat[20, 30] = 255  # pixel covering [20, 21) x [30, 31): centre (20.5, 30.5)
    patch = bench.orientation_patch(sat, 20.5, 30.5, 9)
    assert patch.shape == (1, 3, 9, 9)
    assert np.unravel_index(np.argmax(patch[0, 0]), (9, 9)) == (4, 4) and patch[0, 0, 4, 4] == 1.0
