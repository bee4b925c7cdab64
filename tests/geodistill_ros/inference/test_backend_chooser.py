"""backend="auto" picks TensorRT, then ONNX Runtime CUDA, then ONNX Runtime CPU, and says why it skipped."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest

from geodistill_ros.inference import BackendUnavailableError, ModelFileError, load_model, loader
from geodistill_ros.inference import tensorrt_backend as trt_backend
from geodistill_ros.inference.backend import Backend


class _FakeBackend(Backend):
    def __init__(self, name):
        self.name = name

    def run(self, graph, feeds):
        return {"called": np.array([1.0])}


def _unavailable(reason):
    def factory(model_dir, meta, threads):
        raise BackendUnavailableError(reason)

    return factory


def test_auto_prefers_tensorrt(tiny_export, monkeypatch):
    monkeypatch.setitem(loader.FACTORIES, "tensorrt", lambda *a: _FakeBackend("tensorrt"))
    model = load_model(tiny_export[0])
    assert model.backend_name == "tensorrt" and model.fallback_reasons == []


def test_auto_falls_back_to_onnxruntime_cuda(tiny_export, monkeypatch):
    monkeypatch.setitem(loader.FACTORIES, "tensorrt", _unavailable("no engine"))
    monkeypatch.setitem(loader.FACTORIES, "onnxruntime-cuda", lambda *a: _FakeBackend("onnxruntime-cuda"))
    model = load_model(tiny_export[0])
    assert model.backend_name == "onnxruntime-cuda"
    assert model.fallback_reasons == ["tensorrt: no engine"]


def test_auto_falls_back_to_cpu_here(tiny_export):
    """This machine has neither TensorRT nor the CUDA provider: auto must end on ONNX Runtime CPU."""
    model = load_model(tiny_export[0], threads=1)
    assert model.backend_name == "onnxruntime-cpu"
    assert [r.split(":")[0] for r in model.fallback_reasons] == ["tensorrt", "onnxruntime-cuda"]


@pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider'")
def test_cuda_provider_listed_but_not_started_falls_back(tiny_export, monkeypatch):
    """onnxruntime silently runs on CPU when CUDA cannot start; the backend must notice and refuse."""
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    with pytest.raises(BackendUnavailableError, match="could not start CUDA"):
        load_model(tiny_export[0], backend="onnxruntime-cuda")
    assert load_model(tiny_export[0]).backend_name == "onnxruntime-cpu"


def test_auto_ends_on_torch_without_onnxruntime(tiny_export, monkeypatch):
    """No onnxruntime at all: the torch.export programs are the last resort."""
    pytest.importorskip("torch")
    for name in ("tensorrt", "onnxruntime-cuda", "onnxruntime-cpu"):
        monkeypatch.setitem(loader.FACTORIES, name, _unavailable("onnxruntime is not installed"))
    model = load_model(tiny_export[0])
    assert model.backend_name == "torch-cpu" and len(model.fallback_reasons) == 3


def test_auto_skips_missing_torch_programs(model_copy, monkeypatch):
    for path in model_copy.glob("*.pt2"):
        path.unlink()
    monkeypatch.setitem(loader.FACTORIES, "onnxruntime-cpu", _unavailable("onnxruntime is not installed"))
    message = r"(?s)onnxruntime-cpu: onnxruntime is not.*torch: .*\.pt2 is missing"
    with pytest.raises(BackendUnavailableError, match=message):
        load_model(model_copy)


def test_broken_engine_falls_back_but_broken_onnx_raises(tiny_export, monkeypatch):
    def broken(model_dir, meta, threads):
        raise ModelFileError("satellite_encoder.engine: corrupt")

    monkeypatch.setitem(loader.FACTORIES, "tensorrt", broken)
    assert load_model(tiny_export[0]).fallback_reasons[0] == "tensorrt: satellite_encoder.engine: corrupt"
    monkeypatch.setitem(loader.FACTORIES, "onnxruntime-cpu", broken)
    with pytest.raises(ModelFileError):
        load_model(tiny_export[0])


def test_nothing_available(tiny_export, monkeypatch):
    for name in loader.AUTO_ORDER:
        monkeypatch.setitem(loader.FACTORIES, name, _unavailable(f"{name} is gone"))
    with pytest.raises(BackendUnavailableError, match="(?s)no inference backend.*onnxruntime-cpu is gone"):
        load_model(tiny_export[0])


def test_explicit_backend_does_not_fall_back(tiny_export):
    if "tensorrt" in sys.modules or _importable("tensorrt"):
        pytest.skip("tensorrt is installed here")
    with pytest.raises(BackendUnavailableError, match="tensorrt is not installed"):
        load_model(tiny_export[0], backend="tensorrt")


def _importable(name):
    import importlib.util

    return importlib.util.find_spec(name) is not None


@pytest.mark.parametrize(
    ("info", "message"),
    [
        ({"tensorrt_version": "9.9.0"}, "built with TensorRT 9.9.0, this is TensorRT 10.0.1"),
        ({"gpu_name": "NVIDIA A100"}, "built on GPU 'NVIDIA A100', this GPU is 'Fake GPU'"),
        ({"config_hash": "other"}, "built from model other"),
    ],
)
def test_engine_for_another_tensorrt_or_gpu_is_refused_then_auto_falls_back(model_copy, monkeypatch, info,
                                                                             message):
    """A fake tensorrt 10.0.1 on a 'Fake GPU': engines stamped otherwise are refused before deserializing."""
    meta = json.loads((model_copy / "model.json").read_text())
    good = {"tensorrt_version": "10.0.1", "gpu_name": "Fake GPU", "config_hash": meta["config_hash"]}
    for graph in ("satellite_encoder", "ground_matcher", "orientation"):
        (model_copy / f"{graph}.engine").write_bytes(b"engine")
        (model_copy / f"{graph}.engine.json").write_text(json.dumps({**good, **info}))
    fake_trt = types.ModuleType("tensorrt")
    fake_trt.__version__ = "10.0.1"
    monkeypatch.setitem(sys.modules, "tensorrt", fake_trt)
    monkeypatch.setattr(trt_backend, "_cudart", lambda: object())
    monkeypatch.setattr(trt_backend, "gpu_name", lambda device=0: "Fake GPU")
    with pytest.raises(BackendUnavailableError, match=message + ".*rebuild it"):
        load_model(model_copy, backend="tensorrt")
    model = load_model(model_copy, threads=1)
    assert model.backend_name == "onnxruntime-cpu"
    assert message in model.fallback_reasons[0]


def test_missing_engine_description_is_refused(model_copy, monkeypatch):
    for graph in ("satellite_encoder", "ground_matcher", "orientation"):
        (model_copy / f"{graph}.engine").write_bytes(b"engine")
    fake_trt = types.ModuleType("tensorrt")
    fake_trt.__version__ = "10.0.1"
    monkeypatch.setitem(sys.modules, "tensorrt", fake_trt)
    monkeypatch.setattr(trt_backend, "_cudart", lambda: object())
    monkeypatch.setattr(trt_backend, "gpu_name", lambda device=0: "Fake GPU")
    with pytest.raises(BackendUnavailableError, match=r"engine.json is missing"):
        load_model(model_copy, backend="tensorrt")
