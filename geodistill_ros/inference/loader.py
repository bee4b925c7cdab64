"""``load_model``: read a model folder and open it with the requested backend, or the fastest one that runs.

``auto`` tries TensorRT, then ONNX Runtime CUDA, then ONNX Runtime CPU, and last the torch programs (only where
onnxruntime itself is missing and torch is installed); every skipped backend leaves its reason in
``model.fallback_reasons`` (and the log).
"""

from __future__ import annotations

import logging
from pathlib import Path

from geodistill_ros.inference.backend import Backend, Model
from geodistill_ros.inference.errors import BackendUnavailableError, InferenceError, ModelFileError
from geodistill_ros.inference.model_files import read_model_json

log = logging.getLogger(__name__)

AUTO_ORDER = ("tensorrt", "onnxruntime-cuda", "onnxruntime-cpu", "torch")
# Optional build products: a missing or corrupt one is skipped by "auto"; the ONNX files are the model itself.
OPTIONAL_FILES = ("tensorrt", "torch")
BACKENDS = ("auto", "tensorrt", "onnxruntime", "onnxruntime-cpu", "onnxruntime-cuda", "torch", "torch-cpu",
            "torch-cuda")


def _tensorrt(model_dir, meta, threads) -> Backend:
    from geodistill_ros.inference.tensorrt_backend import TensorRTBackend

    return TensorRTBackend(model_dir, meta, threads=threads)


def _ort(device: str):
    def factory(model_dir, meta, threads) -> Backend:
        from geodistill_ros.inference.onnxruntime_backend import OnnxRuntimeBackend

        return OnnxRuntimeBackend(model_dir, meta, device=device, threads=threads)

    return factory


def _torch(device: str | None):
    def factory(model_dir, meta, threads) -> Backend:
        from geodistill_ros.inference.torch_backend import TorchBackend

        return TorchBackend(model_dir, meta, device=device, threads=threads)

    return factory


# name -> factory(model_dir, meta, threads) -> Backend; tests monkeypatch entries to simulate hardware.
FACTORIES = {
    "tensorrt": _tensorrt,
    "onnxruntime-cuda": _ort("cuda"),
    "onnxruntime-cpu": _ort("cpu"),
    "torch": _torch(None),
    "torch-cpu": _torch("cpu"),
    "torch-cuda": _torch("cuda"),
}
ALIASES = {"onnxruntime": "onnxruntime-cpu"}


def load_model(model_dir: str | Path, backend: str = "auto", threads: int | tuple[int, int] | None = None) -> Model:
    """Open the model folder ``model_dir`` (``model.json`` + graph files) with ``backend``.

    ``backend``: "auto" | "tensorrt" | "onnxruntime" (CPU) | "onnxruntime-cuda" | "torch" (CUDA when
    available) | "onnxruntime-cpu" | "torch-cpu" | "torch-cuda".  ``threads``: CPU threads (intra-op), or
    ``(intra_op, inter_op)`` for ONNX Runtime; None = the library default.
    Raises :class:`ModelFileError` / :class:`ModelMismatchError` for missing, corrupt or mismatched files and
    :class:`BackendUnavailableError` when an explicitly requested backend cannot run here.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    meta = read_model_json(model_dir)
    if backend != "auto":
        name = ALIASES.get(backend, backend)
        return Model(meta, FACTORIES[name](model_dir, meta, threads), str(model_dir))
    reasons: list[str] = []
    for name in AUTO_ORDER:
        try:
            chosen = FACTORIES[name](model_dir, meta, threads)
        except BackendUnavailableError as exc:
            reasons.append(f"{name}: {exc}")
        except ModelFileError as exc:
            if name not in OPTIONAL_FILES:
                raise
            reasons.append(f"{name}: {exc}")
        else:
            for reason in reasons:
                log.info("backend skipped: %s", reason)
            return Model(meta, chosen, str(model_dir), fallback_reasons=reasons)
    raise BackendUnavailableError("no inference backend can run this model:\n  " + "\n  ".join(reasons))


def available_backends(model_dir: str | Path, threads=None) -> dict[str, str]:
    """Which explicit backends load ``model_dir`` here: name -> "ok" or the reason it does not."""
    status = {}
    for name in ("tensorrt", "onnxruntime-cuda", "onnxruntime", "torch"):
        try:
            load_model(model_dir, name, threads).close()
            status[name] = "ok"
        except InferenceError as exc:
            status[name] = str(exc)
    return status
