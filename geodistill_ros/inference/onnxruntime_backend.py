"""ONNX Runtime backend: CPU, or CUDA when onnxruntime-gpu and a GPU are present."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from geodistill_ros.inference.backend import Backend
from geodistill_ros.inference.errors import BackendUnavailableError, ModelFileError
from geodistill_ros.inference.model_files import (
    METADATA_KEY,
    check_embedded,
    check_io_names,
    graph_io,
    onnx_path,
    parse_embedded,
)

CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"


def cuda_provider_available() -> bool:
    """True when this onnxruntime build has the CUDA execution provider (a GPU is checked at load)."""
    import onnxruntime as ort

    return CUDA_PROVIDER in ort.get_available_providers()


def session_options(threads: int | tuple[int, int] | None):
    """``threads``: intra-op thread count, or ``(intra_op, inter_op)``; None lets ONNX Runtime choose."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    if threads is not None:
        intra, inter = (threads, 1) if isinstance(threads, int) else threads
        opts.intra_op_num_threads = int(intra)
        opts.inter_op_num_threads = int(inter)
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL if int(inter) <= 1 else ort.ExecutionMode.ORT_PARALLEL
    return opts


def open_session(path: Path, graph: str, meta: dict, providers: list[str], threads=None):
    """Open one ONNX file, checking its embedded metadata and input/output names against ``meta``."""
    import onnxruntime as ort

    if not path.is_file():
        raise ModelFileError(f"{path} is missing (export the model with `geodistill export`)")
    try:
        session = ort.InferenceSession(str(path), sess_options=session_options(threads), providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
        raise ModelFileError(f"cannot load {path}: {str(exc).strip().splitlines()[0]}") from exc
    embedded = parse_embedded(session.get_modelmeta().custom_metadata_map.get(METADATA_KEY), str(path))
    check_embedded(embedded, meta, str(path))
    check_io_names(graph, [i.name for i in session.get_inputs()], [o.name for o in session.get_outputs()],
                   meta, str(path))
    return session


class OnnxRuntimeBackend(Backend):
    """``device="cpu"`` or ``"cuda"``; CUDA raises :class:`BackendUnavailableError` when it cannot run."""

    def __init__(self, model_dir: str | Path, meta: dict, device: str = "cpu", threads=None):
        try:
            import onnxruntime  # noqa: F401
        except ImportError as exc:
            raise BackendUnavailableError("onnxruntime is not installed (pip install onnxruntime)") from exc
        if device == "cuda":
            if not cuda_provider_available():
                raise BackendUnavailableError("onnxruntime has no CUDAExecutionProvider (install onnxruntime-gpu)")
            providers = [CUDA_PROVIDER, CPU_PROVIDER]
        else:
            providers = [CPU_PROVIDER]
        self.name = f"onnxruntime-{device}"
        self.sessions = {}
        for graph in graph_io(meta):
            session = open_session(onnx_path(model_dir, graph), graph, meta, providers, threads)
            if device == "cuda" and session.get_providers()[0] != CUDA_PROVIDER:
                raise BackendUnavailableError("onnxruntime could not start CUDA (no GPU or CUDA libraries missing)")
            self.sessions[graph] = session
        self._outputs = {g: [o.name for o in s.get_outputs()] for g, s in self.sessions.items()}

    def run(self, graph: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = self._outputs[graph]
        return dict(zip(names, self.sessions[graph].run(names, feeds)))

    def close(self) -> None:
        self.sessions.clear()
