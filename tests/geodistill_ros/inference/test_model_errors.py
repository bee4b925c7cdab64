"""Missing, corrupt or mismatched model files and bad inputs give typed, readable errors."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import tiny_torch_models as tiny

from geodistill_ros.inference import (
    InputError,
    ModelFileError,
    ModelMismatchError,
    load_model,
    read_model_json,
)


def _edit_json(model_dir, **changes):
    path = model_dir / "model.json"
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))


def test_missing_folder_and_files(tmp_path, model_copy):
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "nowhere")
    (model_copy / "ground_matcher.onnx").unlink()
    with pytest.raises(ModelFileError, match="ground_matcher.onnx is missing"):
        load_model(model_copy, backend="onnxruntime")
    (model_copy / "model.json").unlink()
    with pytest.raises(ModelFileError, match="model.json is missing"):
        load_model(model_copy)


def test_corrupt_files(model_copy):
    onnx_file = model_copy / "satellite_encoder.onnx"
    onnx_file.write_bytes(onnx_file.read_bytes()[:500])
    with pytest.raises(ModelFileError, match="cannot load .*satellite_encoder.onnx"):
        load_model(model_copy, backend="onnxruntime")
    with pytest.raises(ModelFileError, match="cannot load .*satellite_encoder.onnx"):
        load_model(model_copy, backend="auto")  # a broken ONNX file is not a reason to fall back
    (model_copy / "model.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load_model(model_copy)


def test_corrupt_torch_program(model_copy):
    pytest.importorskip("torch")
    (model_copy / "orientation.pt2").write_bytes(b"garbage")
    with pytest.raises(ModelFileError, match="cannot load .*orientation.pt2"):
        load_model(model_copy, backend="torch")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format_version": 99}, "format_version 99 is newer"),
        ({"conventions": "NED"}, "conventions"),
        ({"sat_size_px": -1}, "sat_size_px must be a positive integer"),
        ({"levels": []}, "levels must be a positive count or a non-empty list"),
        ({"levels": 0}, "levels must be a positive count"),
        ({"orientation": {"bins": 90}}, "orientation must hold"),
        ({"position_offset_rc_px": [1.0]}, "position_offset_rc_px must be"),
        ({"position_offset_rc_px": "up"}, "position_offset_rc_px must be"),
    ],
)
def test_bad_model_json(model_copy, changes, message):
    _edit_json(model_copy, **changes)
    with pytest.raises(ModelMismatchError, match=message):
        read_model_json(model_copy)


def test_model_json_from_another_export(model_copy):
    _edit_json(model_copy, config_hash="0123456789abcdef")
    with pytest.raises(ModelMismatchError, match="different model than model.json.*config_hash"):
        load_model(model_copy, backend="onnxruntime")
    pytest.importorskip("torch")
    with pytest.raises(ModelMismatchError, match=r"\.pt2 was exported from a different model"):
        load_model(model_copy, backend="torch")


def test_recalibrated_posterior_temperature_is_not_a_mismatch(model_copy):
    _edit_json(model_copy, posterior_temperature=0.123)
    assert load_model(model_copy, backend="onnxruntime").meta["posterior_temperature"] == 0.123


def test_wrong_input_names(model_copy):
    path = model_copy / "ground_matcher.onnx"
    proto = onnx.load(str(path))
    for node in proto.graph.node:
        node.input[:] = ["image" if n == "ground" else n for n in node.input]
    proto.graph.input[0].name = "image"
    onnx.save(proto, str(path))
    with pytest.raises(ModelMismatchError, match=r"inputs \['image', 'ground_mask'.*expected inputs \['ground'"):
        load_model(model_copy, backend="onnxruntime")


def test_missing_or_broken_embedded_metadata(model_copy):
    path = model_copy / "orientation.onnx"
    proto = onnx.load(str(path))
    proto.metadata_props[0].value = "{broken"
    onnx.save(proto, str(path))
    with pytest.raises(ModelMismatchError, match="metadata is not valid JSON"):
        load_model(model_copy, backend="onnxruntime")
    del proto.metadata_props[:]
    onnx.save(proto, str(path))
    with pytest.raises(ModelMismatchError, match="no 'geodistill' metadata"):
        load_model(model_copy, backend="onnxruntime")


def test_bad_inputs(tiny_export):
    model = load_model(tiny_export[0], backend="onnxruntime", threads=1)
    x = {k: v.numpy() for k, v in tiny.random_inputs(sat_size_px=64).items()}
    with pytest.raises(InputError, match="multiple of 32"):
        model.encode_satellite(np.zeros((1, 3, 80, 80), np.float32))
    with pytest.raises(InputError, match="outside the 64..256 px"):
        model.encode_satellite(np.zeros((1, 3, 512, 512), np.float32))
    with pytest.raises(InputError, match=r"sat must be \[1, 3, H, W\]"):
        model.encode_satellite(x["satellite"][0])
    with pytest.raises(InputError, match="float32"):
        model.encode_satellite((x["satellite"] * 255).astype(np.uint8))
    feats = model.encode_satellite(x["satellite"])
    with pytest.raises(InputError, match="must be 32x64"):
        model.match(x["ground"][..., :32], x["ground_mask"][..., :32], feats)
    with pytest.raises(InputError, match="lacks"):
        model.match(x["ground"], x["ground_mask"], {"sat_feat_0": feats["sat_feat_0"]})
    with pytest.raises(InputError, match="orientation sat must be"):
        model.orientation(x["satellite"], x["ground"], x["ground_mask"])
    with pytest.raises(ValueError, match="unknown backend"):
        load_model(tiny_export[0], backend="openvino")
