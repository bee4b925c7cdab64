"""The model folder: file names, ``model.json`` validation, and the graph input/output names of the contract.

A model folder (docs/ARCHITECTURE.md, "The model contract") holds ``satellite_encoder.onnx``,
``ground_matcher.onnx``, ``orientation.onnx`` (each with ``model.json`` embedded as metadata key
``geodistill``), ``model.json``, optional ``*.pt2`` torch.export programs and optional TensorRT engines
``<graph>.engine`` with ``<graph>.engine.json`` beside them.  Pure Python; imports no inference library.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from geodistill_ros.inference.errors import ModelFileError, ModelMismatchError

FORMAT_VERSION = 1
METADATA_KEY = "geodistill"
MODEL_JSON = "model.json"
GRAPHS = ("satellite_encoder", "ground_matcher", "orientation")
CONVENTIONS = "ENU; yaw CCW from east; VIGOR north-centred panorama"
# model.json keys the runtime relies on (export writes more: posterior_temperature, format_version, ...).
REQUIRED_KEYS = (
    "sat_size_px",
    "search_size_px",
    "meters_per_pixel",
    "ground_height_px",
    "ground_width_px",
    "camera_height_m",
    "prob_stride_px",
    "prob_origin_px",
    "temperature",
    "levels",
    "orientation",
    "conventions",
    "config_hash",
    "code_version",
)
# Keys that identify the exported networks: they must agree between model.json and every embedded copy
# (posterior_temperature may be recalibrated in model.json after export, so it is not one of them).
IDENTITY_KEYS = (
    "format_version",
    "config_hash",
    "sat_size_px",
    "ground_height_px",
    "ground_width_px",
    "levels",
    "orientation",
)
SAT_MULTIPLE_PX = 32


def onnx_path(model_dir: str | Path, graph: str) -> Path:
    return Path(model_dir) / f"{graph}.onnx"


def pt2_path(model_dir: str | Path, graph: str) -> Path:
    return Path(model_dir) / f"{graph}.pt2"


def engine_path(model_dir: str | Path, graph: str) -> Path:
    return Path(model_dir) / f"{graph}.engine"


def engine_info_path(engine: str | Path) -> Path:
    return Path(f"{engine}.json")


def n_levels(meta: dict) -> int:
    """Number of satellite feature levels: ``levels`` is a count or a list with one entry per level."""
    levels = meta["levels"]
    return levels if isinstance(levels, int) else len(levels)


def sat_feat_names(meta: dict) -> list[str]:
    return [f"sat_feat_{i}" for i in range(n_levels(meta))]


def graph_io(meta: dict) -> dict[str, tuple[list[str], list[str]]]:
    """graph -> (input names, output names), in the order the graphs take and return them."""
    feats = sat_feat_names(meta)
    io = {
        "satellite_encoder": (["satellite"], feats),
        "ground_matcher": (["ground", "ground_mask", *feats], ["logits", "prob"]),
    }
    if meta.get("orientation"):
        io["orientation"] = (["satellite", "ground", "ground_mask"], ["yaw_logits"])
    return io


def validate_meta(meta: object, source: str = MODEL_JSON) -> dict:
    """Check a parsed ``model.json``; return it or raise :class:`ModelMismatchError` saying what is wrong."""
    if not isinstance(meta, dict):
        raise ModelMismatchError(f"{source}: expected a JSON object, got {type(meta).__name__}")
    version = meta.get("format_version", FORMAT_VERSION)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelMismatchError(
            f"{source}: model format_version {version!r} is newer than this runtime supports "
            f"({FORMAT_VERSION}); update geodistill_ros or re-export the model"
        )
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise ModelMismatchError(f"{source}: missing keys {missing}")
    for key in ("sat_size_px", "search_size_px", "ground_height_px", "ground_width_px"):
        if not isinstance(meta[key], int) or meta[key] <= 0:
            raise ModelMismatchError(f"{source}: {key} must be a positive integer, got {meta[key]!r}")
    for key in ("meters_per_pixel", "camera_height_m", "prob_stride_px", "temperature"):
        if not isinstance(meta[key], (int, float)) or meta[key] <= 0:
            raise ModelMismatchError(f"{source}: {key} must be a positive number, got {meta[key]!r}")
    offset = meta.get("position_offset_rc_px")  # optional: the calibrated constant offset (pixels)
    if offset is not None and not (isinstance(offset, list) and len(offset) == 2
                                   and all(isinstance(v, (int, float)) and math.isfinite(v) for v in offset)):
        raise ModelMismatchError(f"{source}: position_offset_rc_px must be [row, col] pixels, got {offset!r}")
    levels = meta["levels"]
    if not (isinstance(levels, list) and levels) and not (isinstance(levels, int) and levels > 0):
        raise ModelMismatchError(f"{source}: levels must be a positive count or a non-empty list, got {levels!r}")
    ori = meta["orientation"]
    if ori is not None:
        if not isinstance(ori, dict) or any(k not in ori for k in ("bins", "range_deg", "sat_size_px")):
            raise ModelMismatchError(f"{source}: orientation must hold bins, range_deg and sat_size_px, got {ori!r}")
    if meta["conventions"] != CONVENTIONS:
        raise ModelMismatchError(f"{source}: conventions {meta['conventions']!r} differ from {CONVENTIONS!r}")
    return meta


def read_model_json(model_dir: str | Path) -> dict:
    """Read and validate ``<model_dir>/model.json``."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelFileError(f"model folder {model_dir} does not exist")
    path = model_dir / MODEL_JSON
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ModelFileError(f"{path} is missing (export the model with `geodistill export`)") from None
    except OSError as exc:
        raise ModelFileError(f"cannot read {path}: {exc}") from exc
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{path} is not valid JSON: {exc}") from exc
    return validate_meta(meta, str(path))


def parse_embedded(text: str | None, source: str) -> dict:
    """Parse the ``geodistill`` metadata embedded in a model file."""
    if text is None:
        raise ModelMismatchError(f"{source}: no '{METADATA_KEY}' metadata (not exported by `geodistill export`?)")
    try:
        embedded = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelMismatchError(f"{source}: '{METADATA_KEY}' metadata is not valid JSON: {exc}") from exc
    return validate_meta(embedded, f"{source} metadata")


def _identity(meta: dict) -> dict:
    return {k: meta.get(k, FORMAT_VERSION if k == "format_version" else None) for k in IDENTITY_KEYS}


def check_embedded(embedded: dict, meta: dict, source: str) -> None:
    """Raise :class:`ModelMismatchError` when a file's embedded metadata disagrees with ``model.json``."""
    mine, theirs = _identity(embedded), _identity(meta)
    diff = [k for k in IDENTITY_KEYS if mine[k] != theirs[k]]
    if diff:
        details = ", ".join(f"{k}: file {mine[k]!r} vs model.json {theirs[k]!r}" for k in diff)
        raise ModelMismatchError(f"{source} was exported from a different model than model.json ({details})")


def check_io_names(graph: str, inputs: list[str], outputs: list[str], meta: dict, source: str) -> None:
    """Raise :class:`ModelMismatchError` when a graph's input/output names differ from the contract."""
    want_in, want_out = graph_io(meta)[graph]
    if list(inputs) != want_in or list(outputs) != want_out:
        raise ModelMismatchError(
            f"{source}: inputs {list(inputs)} / outputs {list(outputs)}, expected inputs {want_in} / "
            f"outputs {want_out} for the {graph} graph"
        )
