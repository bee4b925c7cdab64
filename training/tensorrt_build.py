"""Build TensorRT engines from the exported ONNX graphs (TensorRT 10 Python API).

UNTESTED in this project's environment (no GPU, TensorRT not installable): written against the documented
TensorRT 10 API -- ``Builder``, ``create_network(0)`` (explicit batch is the only mode in TRT 10),
``OnnxParser.parse_from_file``, ``BuilderConfig.set_memory_pool_limit(MemoryPoolType.WORKSPACE, ...)``,
``BuilderFlag.FP16``, one optimization profile, ``build_serialized_network``.  Beside each
``<graph>.engine`` it writes ``<graph>.engine.json`` (TensorRT version, GPU name, precision, model hash) that
the runtime checks before loading.

    python -m training.tensorrt_build geodistill_ros/models [--fp32] [--workspace-mb 1024] [--max-sat-size 640]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from geodistill_ros.inference.errors import InferenceError
from geodistill_ros.inference.model_files import (
    SAT_MULTIPLE_PX,
    engine_info_path,
    engine_path,
    graph_io,
    onnx_path,
    read_model_json,
)


class TensorRTBuildError(RuntimeError):
    """Engines cannot be built here (no tensorrt / cuda-python / GPU) or TensorRT rejected the ONNX graph."""


def _import_tensorrt():
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise TensorRTBuildError("tensorrt is not installed: build engines on the target machine with TensorRT 10 "
                                 "(pip install tensorrt cuda-python)") from exc
    return trt


def satellite_profile(meta: dict, max_sat_size_px: int | None = None) -> tuple[int, int, int]:
    """(min, opt, max) satellite side in pixels: training size, search size, and the largest wanted."""
    lo, opt = meta["sat_size_px"], meta["search_size_px"]
    hi = max(opt, max_sat_size_px or opt)
    if hi % SAT_MULTIPLE_PX:
        raise ValueError(f"max satellite size {hi} is not a multiple of {SAT_MULTIPLE_PX}")
    return min(lo, opt), opt, hi


def input_profiles(graph: str, shapes: dict[str, tuple[int, ...]], meta: dict, sat_sides: tuple[int, int, int]):
    """name -> (min, opt, max) shapes.  ``shapes`` holds the ONNX input shapes (-1 = dynamic); a dynamic
    satellite feature side follows the satellite side through the level's stride."""
    profiles = {}
    for name, shape in shapes.items():
        if all(d > 0 for d in shape):
            profiles[name] = (tuple(shape),) * 3
            continue
        if name == "satellite":
            profiles[name] = tuple((1, 3, s, s) for s in sat_sides)
        elif name.startswith("sat_feat_"):
            strides = meta.get("sat_feat_strides_px") or []
            level = int(name.rsplit("_", 1)[1])
            if level >= len(strides):
                raise ValueError(f"{graph}: no stride for dynamic input {name}; model.json needs "
                                 "sat_feat_strides_px (re-export the model)")
            stride = strides[level]
            profiles[name] = tuple((1, shape[1], s // stride, s // stride) for s in sat_sides)
        else:
            raise ValueError(f"{graph}: unexpected dynamic input {name} {shape}")
    return profiles


def build_engine(onnx_file: Path, engine_file: Path, meta: dict, *, fp16: bool = True, workspace_mb: int = 1024,
                 max_sat_size_px: int | None = None) -> Path:
    """Parse ``onnx_file``, build a serialized engine, write it and its ``.json`` description."""
    from geodistill_ros.inference.tensorrt_backend import gpu_name

    trt = _import_tensorrt()
    try:
        gpu = gpu_name()
    except InferenceError as exc:
        raise TensorRTBuildError(f"cannot build TensorRT engines without a GPU: {exc}") from exc
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_file)):  # also reads external weight files beside the model
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise TensorRTBuildError(f"TensorRT could not parse {onnx_file}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    else:
        config.clear_flag(trt.BuilderFlag.TF32)  # FP32 means full FP32 (TF32 is on by default on Ampere+)
    graph = onnx_file.stem
    shapes = {network.get_input(i).name: tuple(network.get_input(i).shape) for i in range(network.num_inputs)}
    profiles = input_profiles(graph, shapes, meta, satellite_profile(meta, max_sat_size_px))
    profile = builder.create_optimization_profile()
    for name, (lo, opt, hi) in profiles.items():
        profile.set_shape(name, lo, opt, hi)
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise TensorRTBuildError(f"TensorRT failed to build an engine from {onnx_file}")
    engine_file.write_bytes(bytes(serialized))
    info = {
        "tensorrt_version": trt.__version__,
        "gpu_name": gpu,
        "precision": "fp16" if fp16 else "fp32",
        "workspace_mb": workspace_mb,
        "config_hash": meta["config_hash"],
        "onnx": onnx_file.name,
        "profile": {name: [list(s) for s in shapes3] for name, shapes3 in profiles.items()},
    }
    engine_info_path(engine_file).write_text(json.dumps(info, indent=2) + "\n")
    return engine_file


def build_model_engines(model_dir: str | Path, *, fp16: bool = True, workspace_mb: int = 1024,
                        max_sat_size_px: int | None = None) -> list[Path]:
    """Engines for every graph of a model folder, written beside the ONNX files."""
    meta = read_model_json(model_dir)
    _import_tensorrt()  # fail before any work when TensorRT is absent
    return [build_engine(onnx_path(model_dir, g), engine_path(model_dir, g), meta, fp16=fp16,
                         workspace_mb=workspace_mb, max_sat_size_px=max_sat_size_px) for g in graph_io(meta)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--fp32", action="store_true", help="FP32 engines (default FP16)")
    parser.add_argument("--workspace-mb", type=int, default=1024)
    parser.add_argument("--max-sat-size", type=int, default=None, help="largest satellite side (px) to support")
    args = parser.parse_args(argv)
    try:
        engines = build_model_engines(args.model_dir, fp16=not args.fp32, workspace_mb=args.workspace_mb,
                                      max_sat_size_px=args.max_sat_size)
    except (TensorRTBuildError, InferenceError) as exc:
        print(f"error: {exc}")
        return 1
    for engine in engines:
        print(f"wrote {engine} and {engine_info_path(engine).name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
