"""``geodistill export``: checkpoints -> a model folder the runtime loads without PyTorch.

Writes ``satellite_encoder.onnx`` (satellite side dynamic, multiples of 32), ``ground_matcher.onnx``,
``orientation.onnx`` (named inputs/outputs of docs/ARCHITECTURE.md, "The model contract", ``model.json``
embedded as metadata key ``geodistill``), ``model.json``, the ``*.pt2`` torch.export programs of the torch
backend, and optionally TensorRT engines.  Every export is checked on the spot: ONNX Runtime (split graph,
cached satellite features) against the torch model (joint call), probabilities within ``tolerance``.

    geodistill export --localizer geodistill_ros/models/student.pt \
        --orientation geodistill_ros/models/orientation.pt --out geodistill_ros/models

The shipped default model, from training runs (slim checkpoint copies included)::

    geodistill export --localizer runs/weak/last.pt --orientation runs/orientation/last.pt \
        --eval runs/weak/eval.json --copy-checkpoints
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import hashlib
import json
import logging
import math
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

import geodistill_ros
from geodistill_ros.inference import load_model
from geodistill_ros.inference.model_files import (
    CONVENTIONS,
    FORMAT_VERSION,
    METADATA_KEY,
    MODEL_JSON,
    SAT_MULTIPLE_PX,
    graph_io,
    n_levels,
    onnx_path,
    pt2_path,
    validate_meta,
)
from geodistill_ros.inference.torch_backend import PT2_METADATA_FILE
from training.models import CANVAS_KEYS, canvas_mismatch

DEFAULT_MODELS = Path(geodistill_ros.__file__).parent / "models"
REPO_ROOT = Path(__file__).resolve().parents[1]
# model.json keys taken from the checkpoints (meta first, then the config, then module attributes).
MODEL_KEYS = ("sat_size_px", "search_size_px", "meters_per_pixel", "ground_height_px", "ground_width_px",
              "camera_height_m", "prob_stride_px", "prob_origin_px", "temperature", "levels")
ORIENTATION_KEYS = ("bins", "range_deg", "sat_size_px")


class ExportError(RuntimeError):
    """The checkpoints cannot be exported (missing metadata, untraceable model, failed verification)."""


@dataclass
class ExportConfig:
    opset: int = 18
    write_pt2: bool = True
    verify: bool = True
    tolerance: float = 1e-4  # max abs difference of probabilities, ONNX Runtime vs torch
    max_sat_size_px: int = 1024  # largest satellite patch the dynamic graphs accept
    external_data_mb: float = 512.0  # weights above this size go to <file>.onnx.data


# --- model.json ------------------------------------------------------------------------------------
def _plain(obj):
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    return obj


def find_key(obj, key: str):
    """First non-None value of ``key`` in nested dicts/lists/dataclasses (breadth-first), or None."""
    queue = [_plain(obj)]
    while queue:
        item = queue.pop(0)
        if isinstance(item, dict):
            if item.get(key) is not None:
                return item[key]
            queue.extend(_plain(v) for v in item.values())
        elif isinstance(item, (list, tuple)):
            queue.extend(_plain(v) for v in item)
    return None


def config_hash(*configs) -> str:
    text = json.dumps([_plain(c) for c in configs], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _lookup(key: str, bundle: dict | None, module: nn.Module | None):
    for source in ((bundle or {}).get("meta"), (bundle or {}).get("config"), bundle):
        value = find_key(source, key)
        if value is not None:
            return value
    return getattr(module, key, None) if module is not None else None


def _jsonable(value):
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.generic, torch.Tensor)):
        return _jsonable(value.item() if getattr(value, "ndim", 0) == 0 else value.tolist())
    if isinstance(value, float) and math.isfinite(value) and float(np.float32(value)) == value:
        return float(str(np.float32(value)))  # a float32 read back as float64: 0.1, not 0.09999999403953552
    return value


def git_version(repo: Path = REPO_ROOT) -> str:
    """``git describe`` of the code that exports (``-dirty`` with local changes), or "unknown" outside git."""
    try:
        out = subprocess.run(["git", "-C", str(repo), "describe", "--always", "--dirty", "--abbrev=10"],
                             capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def training_record(bundle: dict | None) -> dict | None:
    """What model.json keeps of a checkpoint: stage, step, config hash, metrics and the whole training config."""
    if bundle is None:
        return None
    meta = bundle.get("meta") or {}
    config = _plain(bundle.get("config"))
    return json.loads(json.dumps({k: meta.get(k) for k in ("stage", "step", "config_hash", "metrics")}
                                 | {"config": config}, default=str))


def build_model_json(loc_bundle: dict, ori_bundle: dict | None, overrides: dict | None = None) -> dict:
    """The ``model.json`` content from the two checkpoint bundles (``overrides`` win)."""
    overrides = dict(overrides or {})
    localizer, orientation = loc_bundle.get("localizer"), (ori_bundle or {}).get("orientation")
    meta = {}
    for key in MODEL_KEYS:
        meta[key] = _jsonable(overrides.pop(key, None) if key in overrides else _lookup(key, loc_bundle, localizer))
    if meta["search_size_px"] is None:
        meta["search_size_px"] = meta["sat_size_px"]
    photometric = (loc_bundle.get("meta") or {}).get("photometric")  # training.models.model_meta
    if photometric:  # for the reader: the level itself lives inside the graphs
        meta["photometric"] = {k: _jsonable(v) for k, v in photometric.items()}
    if ori_bundle is None:
        meta["orientation"] = overrides.pop("orientation", None)
    else:
        given = overrides.pop("orientation", None) or {}
        meta["orientation"] = {k: _jsonable(given.get(k, _lookup(k, ori_bundle, orientation)))
                               for k in ORIENTATION_KEYS}
        if hasattr(orientation, "step_deg") and hasattr(orientation, "bins"):
            # model.json range_deg is the full width of the bins (contract: bin k = -range/2 + k + 0.5 deg);
            # training's OrientationConfig.range_deg is the half width, so take it from the module itself.
            meta["orientation"]["range_deg"] = float(orientation.bins * orientation.step_deg)
        if meta["orientation"]["sat_size_px"] is None:
            meta["orientation"]["sat_size_px"] = meta["sat_size_px"]
        why = canvas_mismatch(meta, {k: find_key(ori_bundle.get("meta"), k) for k in CANVAS_KEYS})
        if why:
            raise ExportError(why)
    posterior_t = overrides.pop("posterior_temperature", None) or _lookup("posterior_temperature", loc_bundle, None)
    # Uncalibrated: the model's own softmax temperature, so the posterior equals the exported ``prob`` map
    # (1.0 would flatten a map of NCC-sum logits into a near-uniform one).
    meta["posterior_temperature"] = float(posterior_t if posterior_t is not None else meta["temperature"] or 1.0)
    meta["posterior_temperature_calibrated"] = posterior_t is not None
    offset = overrides.pop("position_offset_rc_px", None) or _lookup("position_offset_rc_px", loc_bundle, None)
    # The constant offset that `geodistill eval` measured without labels (training.offset_calibration);
    # the runtime subtracts it from every estimate. None: an uncalibrated model, no offset.
    meta["position_offset_rc_px"] = [float(v) for v in offset] if offset is not None else [0.0, 0.0]
    meta["position_offset_calibrated"] = offset is not None
    meta["conventions"] = CONVENTIONS
    meta["config_hash"] = (overrides.pop("config_hash", None) or find_key(loc_bundle.get("meta"), "config_hash")
                           or config_hash(loc_bundle.get("config"), (ori_bundle or {}).get("config")))
    meta["code_version"] = overrides.pop("code_version", None) or (
        f"geodistill_ros {geodistill_ros.__version__} (git {git_version()})")
    meta["format_version"] = FORMAT_VERSION
    # The training configs the networks came from (reproducibility; the runtime does not read them).
    meta["training"] = {"localizer": training_record(loc_bundle), "orientation": training_record(ori_bundle)}
    meta.update(overrides)
    missing = [k for k, v in meta.items() if v is None and k != "orientation"]
    missing += [f"orientation.{k}" for k, v in (meta["orientation"] or {}).items() if v is None]
    if missing:
        raise ExportError(f"the checkpoints do not say {missing}; pass them with --set KEY=VALUE")
    if meta["sat_size_px"] % SAT_MULTIPLE_PX or meta["search_size_px"] % SAT_MULTIPLE_PX:
        raise ExportError(f"sat_size_px / search_size_px must be multiples of {SAT_MULTIPLE_PX}: "
                          f"{meta['sat_size_px']} / {meta['search_size_px']}")
    try:
        return validate_meta(meta, "exported model.json")
    except Exception as exc:
        raise ExportError(str(exc)) from exc


# --- graph wrappers ----------------------------------------------------------------------------------
class SatelliteEncoderGraph(nn.Module):
    def __init__(self, localizer: nn.Module):
        super().__init__()
        self.localizer = localizer

    def forward(self, satellite):
        return tuple(self.localizer.encode_satellite(satellite))


class GroundMatcherGraph(nn.Module):
    def __init__(self, localizer: nn.Module):
        super().__init__()
        self.localizer = localizer

    def forward(self, ground, ground_mask, *sat_feats):
        out = self.localizer.match(ground, ground_mask, list(sat_feats))
        return out["logits"], out["prob"]


class _PythonInts(list):
    """A list of Python ints with a tensor-like ``tolist()``."""

    def tolist(self) -> list[int]:
        return list(self)


def _static_int_buffers(module: nn.Module) -> nn.Module:
    """A copy of ``module`` whose small integer buffers read by ``.tolist()`` (e.g. the orientation net's
    azimuth ``shifts``) are plain Python ints, so torch.export unrolls them instead of tracing data-dependent
    scalars that the ONNX exporter cannot convert."""
    module = copy.deepcopy(module)
    for sub in module.modules():
        for name, buf in list(sub.named_buffers(recurse=False)):
            if buf is not None and not buf.is_floating_point() and buf.ndim == 1 and buf.numel() <= 4096:
                delattr(sub, name)
                setattr(sub, name, _PythonInts(int(v) for v in buf))
    return module


class OrientationGraph(nn.Module):
    def __init__(self, orientation: nn.Module):
        super().__init__()
        self.orientation = _static_int_buffers(orientation)

    def forward(self, satellite, ground, ground_mask):
        return self.orientation(satellite, ground, ground_mask)


def example_inputs(meta: dict, sat_size_px: int | None = None, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random inputs of the contract's shapes; the mask hides a quarter of the canvas."""
    gen = torch.Generator().manual_seed(seed)
    s = sat_size_px or meta["sat_size_px"]
    hg, wg = meta["ground_height_px"], meta["ground_width_px"]
    mask = torch.ones(1, 1, hg, wg)
    mask[..., : wg // 4] = 0.0
    inputs = {"satellite": torch.rand(1, 3, s, s, generator=gen), "ground": torch.rand(1, 3, hg, wg, generator=gen),
              "ground_mask": mask}
    if meta["orientation"]:
        so = meta["orientation"]["sat_size_px"]
        inputs["orientation_satellite"] = torch.rand(1, 3, so, so, generator=gen)
    return inputs


def feature_strides(localizer: nn.Module, meta: dict) -> list[int]:
    """Pixels of satellite per feature cell, per level (each must divide 32 for the dynamic export)."""
    side = meta["sat_size_px"]
    with torch.no_grad():
        feats = localizer.encode_satellite(example_inputs(meta)["satellite"])
    strides = []
    for i, f in enumerate(feats):
        stride = side / f.shape[-1]
        if f.shape[-1] != f.shape[-2] or stride != int(stride) or SAT_MULTIPLE_PX % int(stride):
            raise ExportError(f"satellite feature level {i} is {list(f.shape)} for a {side} px patch: the stride "
                              f"must be an integer that divides {SAT_MULTIPLE_PX}")
        strides.append(int(stride))
    if len(strides) != n_levels(meta):
        raise ExportError(f"encode_satellite returned {len(strides)} levels, model.json says levels "
                          f"{meta['levels']}")
    return strides


def trace_programs(localizer: nn.Module, orientation: nn.Module | None, meta: dict,
                   cfg: ExportConfig) -> dict[str, torch.export.ExportedProgram]:
    """torch.export programs of the three graphs; the satellite side is dynamic (32 * n pixels)."""
    x = example_inputs(meta)
    with torch.no_grad():
        feats = SatelliteEncoderGraph(localizer)(x["satellite"])
    lo, hi = meta["sat_size_range_px"]
    if hi > lo:
        n = torch.export.Dim("sat_32px", min=lo // SAT_MULTIPLE_PX, max=hi // SAT_MULTIPLE_PX)
        sat_dims = {2: SAT_MULTIPLE_PX * n, 3: SAT_MULTIPLE_PX * n}
        feat_dims = tuple({2: (SAT_MULTIPLE_PX // s) * n, 3: (SAT_MULTIPLE_PX // s) * n}
                          for s in meta["sat_feat_strides_px"])
    else:  # one satellite size only: static graphs
        sat_dims, feat_dims = None, tuple(None for _ in meta["sat_feat_strides_px"])
    names = graph_io(meta)
    jobs = {
        "satellite_encoder": (SatelliteEncoderGraph(localizer), (x["satellite"],),
                              {"satellite": sat_dims}),
        "ground_matcher": (GroundMatcherGraph(localizer), (x["ground"], x["ground_mask"], *feats),
                           {"ground": None, "ground_mask": None, "sat_feats": feat_dims}),
    }
    if orientation is not None:
        jobs["orientation"] = (OrientationGraph(orientation),
                               (x["orientation_satellite"], x["ground"], x["ground_mask"]), None)
    programs = {}
    for graph, (module, args, dynamic) in jobs.items():
        try:
            programs[graph] = torch.export.export(module.eval(), args, dynamic_shapes=dynamic)
        except Exception as exc:
            raise ExportError(f"torch.export failed for the {graph} graph (inputs {names[graph][0]}): {exc}") from exc
    return programs


# --- writing -----------------------------------------------------------------------------------------
def write_onnx(program, path: Path, graph: str, meta: dict, cfg: ExportConfig) -> list[Path]:
    """ONNX file with named I/O and the embedded model.json; returns the files written."""
    import onnx

    inputs, outputs = graph_io(meta)[graph]
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # e.g. "torchvision is not installed"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        onnx_program = torch.onnx.export(program, (), None, input_names=inputs, output_names=outputs,
                                         opset_version=cfg.opset, verbose=False)
    proto = onnx_program.model_proto
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta, sort_keys=True)
    proto.producer_name = "geodistill export"
    onnx.checker.check_model(proto)
    weights_mb = sum(math.prod(t.dims) * 4 for t in proto.graph.initializer) / 2**20
    data = path.with_name(path.name + ".data")
    data.unlink(missing_ok=True)
    if weights_mb > cfg.external_data_mb:
        onnx.save_model(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=data.name)
        return [path, data]
    onnx.save_model(proto, str(path))
    return [path]


def write_pt2(program, path: Path, meta: dict) -> Path:
    torch.export.save(program, str(path), extra_files={PT2_METADATA_FILE: json.dumps(meta, sort_keys=True)})
    return path


# --- verification ------------------------------------------------------------------------------------
def _compare(name: str, got: np.ndarray, want: np.ndarray, tolerance: float, report: dict) -> None:
    if got.shape != want.shape:
        raise ExportError(f"{name}: shape {got.shape} differs from torch {want.shape}")
    diff = float(np.abs(got - want).max())
    same_argmax = bool(np.argmax(got.reshape(-1)) == np.argmax(want.reshape(-1)))
    report[name] = {"max_abs_diff": diff, "same_argmax": same_argmax}
    if diff > tolerance or not same_argmax:
        raise ExportError(f"{name}: max abs difference {diff:.3g} (tolerance {tolerance:g}), same argmax "
                          f"{same_argmax}")


def verify_export(out_dir: Path, localizer: nn.Module, orientation: nn.Module | None, meta: dict,
                  tolerance: float, backends=("onnxruntime",)) -> dict:
    """Run the exported files with the runtime (split graph) and the torch modules (joint call)."""
    report = {}
    sizes = sorted({meta["sat_size_px"], meta["search_size_px"]})
    for backend in backends:
        model = load_model(out_dir, backend=backend, threads=1)
        for s in sizes:
            x = example_inputs(meta, sat_size_px=s, seed=s)
            with torch.no_grad():
                want = localizer.match(x["ground"], x["ground_mask"], localizer.encode_satellite(x["satellite"]))
            feats = model.encode_satellite(x["satellite"].numpy())
            got = model.match(x["ground"].numpy(), x["ground_mask"].numpy(), feats)
            _compare(f"{backend}/prob@{s}px", got["prob"], want["prob"].numpy(), tolerance, report)
        if orientation is not None:
            with torch.no_grad():
                want = torch.softmax(orientation(x["orientation_satellite"], x["ground"], x["ground_mask"]), -1)
            logits = model.orientation(x["orientation_satellite"].numpy(), x["ground"].numpy(),
                                       x["ground_mask"].numpy())
            got = torch.softmax(torch.from_numpy(logits), -1).numpy()
            _compare(f"{backend}/yaw_prob", got, want.numpy(), tolerance, report)
        model.close()
    return report


# --- the whole export --------------------------------------------------------------------------------
def export_model(localizer: nn.Module, orientation: nn.Module | None, meta: dict, out_dir: str | Path,
                 cfg: ExportConfig | None = None) -> dict:
    """Export torch modules following the ``training.models`` API into ``out_dir``; returns a report."""
    cfg = cfg or ExportConfig()
    if cfg.opset < 17:
        raise ExportError(f"opset {cfg.opset} < 17 is not supported")
    meta = validate_meta(dict(meta), "model.json")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    localizer = localizer.eval()
    orientation = orientation.eval() if orientation is not None else None
    meta["sat_feat_strides_px"] = feature_strides(localizer, meta)
    lo = min(meta["sat_size_px"], meta["search_size_px"])
    meta["sat_size_range_px"] = [lo, max(meta["search_size_px"], cfg.max_sat_size_px)]
    programs = trace_programs(localizer, orientation, meta, cfg)
    files = []
    for graph, program in programs.items():
        files += write_onnx(program, onnx_path(out_dir, graph), graph, meta, cfg)
        if cfg.write_pt2:
            files.append(write_pt2(program, pt2_path(out_dir, graph), meta))
    (out_dir / MODEL_JSON).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    files.append(out_dir / MODEL_JSON)
    report = {"files": [str(f) for f in files], "meta": meta}
    if cfg.verify:
        backends = ("onnxruntime", "torch") if cfg.write_pt2 else ("onnxruntime",)
        report["verification"] = verify_export(out_dir, localizer, orientation, meta, cfg.tolerance, backends)
    return report


def export_checkpoints(localizer_ckpt: str | Path, orientation_ckpt: str | Path | None, out_dir: str | Path,
                       overrides: dict | None = None, cfg: ExportConfig | None = None) -> dict:
    from training.models import load_checkpoint

    loc_bundle = load_checkpoint(localizer_ckpt)
    if "localizer" not in loc_bundle:
        raise ExportError(f"{localizer_ckpt} holds no localizer (keys {sorted(loc_bundle)})")
    ori_bundle = load_checkpoint(orientation_ckpt) if orientation_ckpt else None
    if ori_bundle is not None and "orientation" not in ori_bundle:
        raise ExportError(f"{orientation_ckpt} holds no orientation network (keys {sorted(ori_bundle)})")
    meta = build_model_json(loc_bundle, ori_bundle, overrides)
    orientation = ori_bundle["orientation"] if ori_bundle else None
    return export_model(loc_bundle["localizer"], orientation, meta, out_dir, cfg)


# --- CLI ---------------------------------------------------------------------------------------------
def _parse_set(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def default_localizer(models_dir: Path = DEFAULT_MODELS) -> Path:
    """The shipped localizer checkpoint: the distilled ``student.pt``, else the weak base ``weak.pt``."""
    for name in ("student.pt", "weak.pt"):
        if (models_dir / name).is_file():
            return models_dir / name
    return models_dir / "student.pt"


def ship_checkpoints(localizer_ckpt: Path, orientation_ckpt: Path | None, out_dir: Path) -> list[Path]:
    """Slim copies (weights, config, metrics; no optimizer state) of the checkpoints into the model folder:
    the localizer as ``student.pt`` (distilled) or ``<stage>.pt``, the orientation net as ``orientation.pt``."""
    from training.checkpoint import load_raw, strip_for_release

    written = []
    for src, role in ((localizer_ckpt, "localizer"), (orientation_ckpt, "orientation")):
        if src is None:
            continue
        state = load_raw(src)
        name = "orientation.pt" if role == "orientation" else (
            "student.pt" if state.get("stage") in ("distill", "student") else f"{state.get('stage') or 'weak'}.pt")
        dst = out_dir / name
        metrics = dict(state.get("metrics") or {})
        if state.get("posterior_temperature") is not None:
            metrics.setdefault("posterior_temperature", state["posterior_temperature"])
        if state.get("position_offset_rc_px") is not None:
            metrics.setdefault("position_offset_rc_px", state["position_offset_rc_px"])
        if Path(src).resolve() != dst.resolve():
            written.append(strip_for_release(src, dst, metrics))
    return written


def evaluation_overrides(eval_json: Path) -> dict:
    """model.json entries from a ``geodistill eval`` JSON: its calibrated ``posterior_temperature`` and
    ``position_offset_rc_px``, and its figures under ``evaluation`` (``{"fov": {"360": {"median_m": ..}, ..},
    ...}``, plot paths left out)."""
    try:
        result = json.loads(Path(eval_json).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ExportError(f"cannot read the evaluation {eval_json}: {exc}") from exc
    if not isinstance(result, dict) or not isinstance(result.get("fov"), dict):
        raise ExportError(f"{eval_json} is not a `geodistill eval` result (no 'fov' figures)")
    record = {k: v for k, v in result.items() if k not in ("plots", "seconds")}
    out = {"evaluation": json.loads(json.dumps(record, default=str))}
    if isinstance(result.get("posterior_temperature"), (int, float)):
        out["posterior_temperature"] = float(result["posterior_temperature"])
    offset = result.get("position_offset_rc_px")
    if isinstance(offset, list) and len(offset) == 2:
        out["position_offset_rc_px"] = [float(v) for v in offset]
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--localizer", type=Path, default=None,
                        help="localizer checkpoint (default: the shipped student.pt, else weak.pt, in "
                             "geodistill_ros/models)")
    parser.add_argument("--orientation", type=Path, default=DEFAULT_MODELS / "orientation.pt",
                        help="orientation checkpoint (default: the shipped one)")
    parser.add_argument("--no-orientation", action="store_true", help="export the localizer only")
    parser.add_argument("--out", type=Path, default=DEFAULT_MODELS, help="model folder to write")
    parser.add_argument("--copy-checkpoints", action="store_true",
                        help="also put slim copies of the checkpoints (no optimizer state) in --out, as the "
                             "default model folder ships them")
    parser.add_argument("--eval", type=Path, default=None,
                        help="`geodistill eval` JSON of the localizer: its figures go into model.json "
                             "('evaluation') with its calibrated posterior_temperature")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="model.json values the checkpoints lack or that should change (JSON values)")
    parser.add_argument("--opset", type=int, default=ExportConfig.opset)
    parser.add_argument("--max-sat-size", type=int, default=ExportConfig.max_sat_size_px,
                        help="largest satellite patch (px) the dynamic graphs accept")
    parser.add_argument("--no-pt2", action="store_true", help="skip the torch.export programs")
    parser.add_argument("--no-verify", action="store_true", help="skip the ONNX Runtime vs torch check")
    parser.add_argument("--tolerance", type=float, default=ExportConfig.tolerance)
    parser.add_argument("--tensorrt", action="store_true", help="also build TensorRT engines (needs TensorRT + GPU)")
    parser.add_argument("--fp32", action="store_true", help="TensorRT engines in FP32 (default FP16)")
    parser.add_argument("--workspace-mb", type=int, default=1024, help="TensorRT builder workspace")


def run(args: argparse.Namespace) -> int:
    cfg = ExportConfig(opset=args.opset, write_pt2=not args.no_pt2, verify=not args.no_verify,
                       tolerance=args.tolerance, max_sat_size_px=args.max_sat_size)
    localizer = args.localizer or default_localizer()
    orientation = None if args.no_orientation else args.orientation
    for path in (localizer, orientation):
        if path is not None and not Path(path).is_file():
            print(f"error: checkpoint {path} not found", flush=True)
            return 2
    try:
        overrides = {**evaluation_overrides(args.eval), **_parse_set(args.set)} if args.eval else _parse_set(args.set)
        report = export_checkpoints(localizer, orientation, args.out, overrides, cfg)
    except (ExportError, argparse.ArgumentTypeError) as exc:
        print(f"error: {exc}", flush=True)
        return 1
    for name, check in report.get("verification", {}).items():
        print(f"verified {name}: max |diff| {check['max_abs_diff']:.2e}, same argmax {check['same_argmax']}")
    if args.copy_checkpoints:
        report["files"] += [str(p) for p in ship_checkpoints(Path(localizer), orientation, Path(args.out))]
    if args.tensorrt:
        from training.tensorrt_build import TensorRTBuildError, build_model_engines

        try:
            engines = build_model_engines(args.out, fp16=not args.fp32, workspace_mb=args.workspace_mb,
                                          max_sat_size_px=args.max_sat_size)
        except TensorRTBuildError as exc:
            print(f"error: the ONNX export is done, but no TensorRT engines: {exc}", flush=True)
            return 1
        report["files"] += [str(e) for e in engines]
    total_mb = 0.0
    for path in report["files"]:
        size_mb = Path(path).stat().st_size / 1e6
        total_mb += size_mb
        print(f"wrote {path} ({size_mb:.2f} MB)")
    print(f"{len(report['files'])} files, {total_mb:.1f} MB")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="geodistill export", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
