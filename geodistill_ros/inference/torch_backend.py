"""PyTorch backend: runs the ``*.pt2`` torch.export programs written by ``geodistill export``.

torch is imported here only when this backend is selected; ``training`` is never imported.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from geodistill_ros.inference.backend import Backend
from geodistill_ros.inference.errors import BackendUnavailableError, ModelFileError
from geodistill_ros.inference.model_files import (
    METADATA_KEY,
    check_embedded,
    graph_io,
    parse_embedded,
    pt2_path,
)

PT2_METADATA_FILE = f"{METADATA_KEY}.json"  # extra file inside every .pt2 archive: the model.json content


class TorchBackend(Backend):
    """``device``: "cuda", "cpu" or None (CUDA when available)."""

    def __init__(self, model_dir: str | Path, meta: dict, device: str | None = None, threads: int | None = None):
        try:
            import torch
        except ImportError as exc:
            raise BackendUnavailableError("torch is not installed (the torch backend is optional)") from exc
        self._torch = torch
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailableError("torch has no CUDA device here")
        if threads is not None:
            torch.set_num_threads(int(threads if isinstance(threads, int) else threads[0]))
        self.device = torch.device(device)
        self.name = f"torch-{self.device.type}"
        self._io = graph_io(meta)
        self.modules = {}
        for graph in self._io:
            path = pt2_path(model_dir, graph)
            if not path.is_file():
                raise ModelFileError(f"{path} is missing (export with `geodistill export`, pt2 programs included)")
            extra = {PT2_METADATA_FILE: ""}
            try:
                program = torch.export.load(str(path), extra_files=extra)
            except Exception as exc:  # torch raises many types for a bad archive
                raise ModelFileError(f"cannot load {path}: {str(exc).strip().splitlines()[0]}") from exc
            embedded = parse_embedded(extra[PT2_METADATA_FILE] or None, str(path))
            check_embedded(embedded, meta, str(path))
            self.modules[graph] = program.module().to(self.device)

    def run(self, graph: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self._torch
        in_names, out_names = self._io[graph]
        args = [torch.from_numpy(feeds[n]).to(self.device) for n in in_names]
        with torch.inference_mode():
            outs = self.modules[graph](*args)
        if isinstance(outs, torch.Tensor):
            outs = (outs,)
        return {n: t.detach().cpu().numpy() for n, t in zip(out_names, outs)}

    def close(self) -> None:
        self.modules.clear()
