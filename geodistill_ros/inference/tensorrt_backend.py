"""TensorRT 10 backend: deserializes ``<graph>.engine`` files built by ``training/tensorrt_build.py``.

Written against the documented TensorRT 10 Python API (``Runtime.deserialize_cuda_engine``,
``IExecutionContext.set_input_shape`` / ``set_tensor_address`` / ``execute_async_v3``) with device memory from
cuda-python.  UNTESTED here: this environment has no GPU and no TensorRT.  An engine whose ``<engine>.json``
names another TensorRT version, GPU or model is refused with :class:`BackendUnavailableError`, so
``load_model(backend="auto")`` falls back to ONNX Runtime.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from geodistill_ros.inference.backend import Backend
from geodistill_ros.inference.errors import BackendUnavailableError, ModelFileError
from geodistill_ros.inference.model_files import engine_info_path, engine_path, graph_io


def _cudart():
    try:
        from cuda.bindings import runtime as cudart  # cuda-python >= 12.6
    except ImportError:
        try:
            from cuda import cudart  # older cuda-python
        except ImportError as exc:
            raise BackendUnavailableError("the TensorRT backend needs cuda-python (pip install cuda-python)") from exc
    return cudart


def _check(result):
    """cuda-python calls return ``(err, *values)``; raise on error, return the value(s)."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if int(getattr(err, "value", err)) != 0:  # cudaError_t.cudaSuccess == 0
        raise BackendUnavailableError(f"CUDA error {err}")
    return values[0] if len(values) == 1 else values


def gpu_name(device: int = 0) -> str:
    """Name of CUDA device ``device`` (e.g. "NVIDIA H100 80GB HBM3"); raises when there is none."""
    cudart = _cudart()
    try:
        props = _check(cudart.cudaGetDeviceProperties(device))
    except BackendUnavailableError as exc:
        raise BackendUnavailableError(f"no CUDA device {device}: {exc}") from exc
    name = props.name
    return (name.split(b"\0", 1)[0].decode() if isinstance(name, bytes) else str(name)).strip()


def read_engine_info(engine: Path) -> dict:
    path = engine_info_path(engine)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise BackendUnavailableError(f"{path} is missing: rebuild the engine (training/tensorrt_build.py)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"cannot read {path}: {exc}") from exc


def check_engine_info(info: dict, engine: Path, meta: dict, trt_version: str, gpu: str) -> None:
    """Refuse an engine built with another TensorRT version, on another GPU, or from another model."""
    problems = []
    if info.get("tensorrt_version") != trt_version:
        problems.append(f"built with TensorRT {info.get('tensorrt_version')}, this is TensorRT {trt_version}")
    if info.get("gpu_name") != gpu:
        problems.append(f"built on GPU {info.get('gpu_name')!r}, this GPU is {gpu!r}")
    if info.get("config_hash") != meta.get("config_hash"):
        problems.append(f"built from model {info.get('config_hash')}, model.json is {meta.get('config_hash')}")
    if problems:
        raise BackendUnavailableError(f"{engine}: " + "; ".join(problems) + " -- rebuild it with "
                                      "`python -m training.tensorrt_build` (or `geodistill export --tensorrt`)")


class _Engine:
    """One deserialized engine with its execution context and cached device buffers."""

    def __init__(self, runtime, path: Path, trt, cudart, stream):
        self.trt, self.cudart, self.stream = trt, cudart, stream
        engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if engine is None:
            raise ModelFileError(f"{path}: TensorRT could not deserialize the engine (corrupt file?)")
        self.engine = engine
        self.context = engine.create_execution_context()
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        self.inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        self.buffers: dict[str, tuple[int, int]] = {}  # name -> (device pointer, capacity in bytes)

    def _buffer(self, name: str, nbytes: int) -> int:
        ptr, capacity = self.buffers.get(name, (0, 0))
        if capacity < nbytes:
            if ptr:
                _check(self.cudart.cudaFree(ptr))
            ptr, capacity = int(_check(self.cudart.cudaMalloc(nbytes))), nbytes
            self.buffers[name] = (ptr, capacity)
        self.context.set_tensor_address(name, ptr)
        return ptr

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        h2d = self.cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        d2h = self.cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        for name in self.inputs:
            host = np.ascontiguousarray(feeds[name], dtype=self.trt.nptype(self.engine.get_tensor_dtype(name)))
            self.context.set_input_shape(name, host.shape)
            ptr = self._buffer(name, host.nbytes)
            _check(self.cudart.cudaMemcpyAsync(ptr, host.ctypes.data, host.nbytes, h2d, self.stream))
        outputs = {}
        for name in self.outputs:
            shape = tuple(self.context.get_tensor_shape(name))
            outputs[name] = np.empty(shape, dtype=self.trt.nptype(self.engine.get_tensor_dtype(name)))
            self._buffer(name, outputs[name].nbytes)
        if not self.context.execute_async_v3(self.stream):
            raise BackendUnavailableError("TensorRT execute_async_v3 failed")
        for name, host in outputs.items():
            _check(self.cudart.cudaMemcpyAsync(host.ctypes.data, self.buffers[name][0], host.nbytes, d2h, self.stream))
        _check(self.cudart.cudaStreamSynchronize(self.stream))
        return {n: a.astype(np.float32, copy=False) for n, a in outputs.items()}

    def close(self) -> None:
        for ptr, _ in self.buffers.values():
            self.cudart.cudaFree(ptr)
        self.buffers.clear()


class TensorRTBackend(Backend):
    name = "tensorrt"

    def __init__(self, model_dir: str | Path, meta: dict, threads=None):
        try:
            import tensorrt as trt
        except ImportError as exc:
            raise BackendUnavailableError("tensorrt is not installed") from exc
        graphs = list(graph_io(meta))
        paths = {g: engine_path(model_dir, g) for g in graphs}
        missing = [str(p) for p in paths.values() if not p.is_file()]
        if missing:
            raise BackendUnavailableError(f"no TensorRT engines {missing}: build them with `geodistill export "
                                          "--tensorrt` on the target machine")
        cudart = _cudart()
        gpu = gpu_name()
        for path in paths.values():
            check_engine_info(read_engine_info(path), path, meta, trt.__version__, gpu)
        self._cudart = cudart
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self._stream = _check(cudart.cudaStreamCreate())
        self.engines = {g: _Engine(self._runtime, p, trt, cudart, self._stream) for g, p in paths.items()}
        io = graph_io(meta)
        for graph, eng in self.engines.items():
            if sorted(eng.inputs) != sorted(io[graph][0]) or sorted(eng.outputs) != sorted(io[graph][1]):
                raise ModelFileError(f"{paths[graph]}: tensors {eng.inputs} -> {eng.outputs} differ from the "
                                     f"contract {io[graph][0]} -> {io[graph][1]}")

    def run(self, graph: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.engines[graph].run(feeds)

    def close(self) -> None:
        for eng in self.engines.values():
            eng.close()
        self.engines.clear()
