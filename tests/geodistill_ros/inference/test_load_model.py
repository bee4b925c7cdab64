"""load_model with ONNX Runtime: the contract API, parity with torch, the split graph, metadata."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tiny_torch_models as tiny
import torch

from geodistill_ros.inference import load_model


def _torch_joint(loc, x: dict) -> dict:
    with torch.no_grad():
        out = loc.match(x["ground"], x["ground_mask"], loc.encode_satellite(x["satellite"]))
    return {k: v.numpy() for k, v in out.items()}


def test_contract_api_shapes_and_meta(tiny_export):
    model_dir, report = tiny_export
    model = load_model(model_dir, backend="onnxruntime", threads=1)
    assert model.backend_name == "onnxruntime-cpu"
    assert model.meta == json.loads((model_dir / "model.json").read_text()) == report["meta"]
    x = tiny.random_inputs(sat_size_px=model.meta["search_size_px"])
    feats = model.encode_satellite(x["satellite"].numpy())
    assert sorted(feats) == ["sat_feat_0", "sat_feat_1"]
    out = model.match(x["ground"].numpy(), x["ground_mask"].numpy(), feats)
    hp = model.meta["search_size_px"] // 4
    assert out["logits"].shape == out["prob"].shape == (1, hp, hp)
    assert out["prob"].sum() == pytest.approx(1.0, abs=1e-5)
    yaw = model.orientation(x["orientation_satellite"].numpy(), x["ground"].numpy(), x["ground_mask"].numpy())
    assert yaw.shape == (1, model.meta["orientation"]["bins"])


@pytest.mark.parametrize("sat_size_px", [64, 96, 128, 256])
def test_onnxruntime_matches_torch(tiny_export, sat_size_px):
    """Probability maps within 1e-4 and the same argmax, for the training size and larger search patches."""
    model = load_model(tiny_export[0], backend="onnxruntime", threads=1)
    loc, ori = tiny.make_models(0)
    x = tiny.random_inputs(seed=sat_size_px, sat_size_px=sat_size_px)
    want = _torch_joint(loc, x)
    got = model.match(x["ground"].numpy(), x["ground_mask"].numpy(), model.encode_satellite(x["satellite"].numpy()))
    assert np.abs(got["prob"] - want["prob"]).max() <= 1e-4
    assert np.argmax(got["prob"]) == np.argmax(want["prob"])
    np.testing.assert_allclose(got["logits"], want["logits"], atol=1e-4)
    with torch.no_grad():
        want_yaw = ori(x["orientation_satellite"], x["ground"], x["ground_mask"]).numpy()
    got_yaw = model.orientation(x["orientation_satellite"].numpy(), x["ground"].numpy(), x["ground_mask"].numpy())
    np.testing.assert_allclose(got_yaw, want_yaw, atol=1e-4)
    assert np.argmax(got_yaw) == np.argmax(want_yaw)


def test_cached_satellite_features_equal_joint_computation(tiny_export):
    """Encode the tile once, match several frames: each equals the joint (encode + match) torch call."""
    model = load_model(tiny_export[0], backend="onnxruntime", threads=1)
    loc, _ = tiny.make_models(0)
    x = tiny.random_inputs(seed=1, sat_size_px=128)
    cached = model.encode_satellite(x["satellite"].numpy())
    for seed in (2, 3, 4):
        frame = tiny.random_inputs(seed=seed, sat_size_px=128)
        frame["satellite"] = x["satellite"]
        split = model.match(frame["ground"].numpy(), frame["ground_mask"].numpy(), cached)
        fresh = model.match(frame["ground"].numpy(), frame["ground_mask"].numpy(),
                            model.encode_satellite(x["satellite"].numpy()))
        joint = _torch_joint(loc, frame)
        np.testing.assert_array_equal(split["prob"], fresh["prob"])
        assert np.abs(split["prob"] - joint["prob"]).max() <= 1e-4
    # features given as a list in level order work the same as the dict
    listed = model.match(frame["ground"].numpy(), frame["ground_mask"].numpy(),
                         [cached["sat_feat_0"], cached["sat_feat_1"]])
    np.testing.assert_array_equal(listed["prob"], split["prob"])


def test_thread_counts_reach_the_sessions(tiny_export):
    model = load_model(tiny_export[0], backend="onnxruntime", threads=(1, 2))
    for session in model.backend.sessions.values():
        opts = session.get_session_options()
        assert (opts.intra_op_num_threads, opts.inter_op_num_threads) == (1, 2)
    model = load_model(tiny_export[0], backend="onnxruntime", threads=2)
    opts = model.backend.sessions["ground_matcher"].get_session_options()
    assert (opts.intra_op_num_threads, opts.inter_op_num_threads) == (2, 1)


def test_float64_inputs_are_accepted(tiny_export):
    model = load_model(tiny_export[0], backend="onnxruntime", threads=1)
    x = tiny.random_inputs(sat_size_px=64)
    a = model.encode_satellite(x["satellite"].numpy().astype(np.float64))
    b = model.encode_satellite(x["satellite"].numpy())
    np.testing.assert_array_equal(a["sat_feat_0"], b["sat_feat_0"])
