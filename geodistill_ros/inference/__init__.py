"""Inference backends behind one interface (docs/ARCHITECTURE.md, "Runtime APIs" and "The model contract").

    from geodistill_ros.inference import load_model
    model = load_model(model_dir, backend="auto", threads=None)
    feats = model.encode_satellite(sat)                 # [1, 3, S, S] -> {"sat_feat_i": ...}
    out = model.match(ground, ground_mask, feats)       # -> {"logits", "prob"} [1, Hp, Wp]
    yaw_logits = model.orientation(sat_o, ground, ground_mask)   # -> [1, bins]

Backends: TensorRT engines, ONNX Runtime (CPU / CUDA) and the torch.export programs (torch only when
installed and selected).  Nothing here imports torch or ``training`` at import time.
"""

from geodistill_ros.inference.backend import Backend, Model
from geodistill_ros.inference.errors import (
    BackendUnavailableError,
    InferenceError,
    InputError,
    ModelFileError,
    ModelMismatchError,
)
from geodistill_ros.inference.loader import AUTO_ORDER, BACKENDS, available_backends, load_model
from geodistill_ros.inference.model_files import read_model_json

__all__ = [
    "AUTO_ORDER",
    "BACKENDS",
    "Backend",
    "BackendUnavailableError",
    "InferenceError",
    "InputError",
    "Model",
    "ModelFileError",
    "ModelMismatchError",
    "available_backends",
    "load_model",
    "read_model_json",
]
