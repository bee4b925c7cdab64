"""``geodistill``: one command-line entry point; each subcommand lives in the module that owns the job.

Subcommand modules are imported only when their command runs, so ``geodistill tiles ...`` never loads
PyTorch and ``--help`` stays fast.  Each module exposes ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("geodistill_ros.sim.cli", "make synthetic worlds, VIGOR-layout datasets and rosbags"),
    "tiles": ("geodistill_ros.tiles.cli", "fetch, cache and crop satellite tiles around a GPS point"),
    "train": ("training.cli_train", "train the weak base model, the GeoDistill student or the orientation net"),
    "eval": ("training.cli_eval", "evaluate a checkpoint on a VIGOR-layout dataset"),
    "export": ("training.export", "export checkpoints to ONNX (and TensorRT engines)"),
    "bench": ("geodistill_ros.inference.bench", "per-stage latency of every available inference backend"),
    "replay": ("geodistill_ros.replay", "play a rosbag2 over DDS (ros2 bag play without rosbag2)"),
    "eval-bag": ("geodistill_ros.evaluation", "score the localizer (or a recorded output bag) on a bag"),
    "bag-dataset": ("geodistill_ros.bag_dataset", "weakly paired VIGOR-layout training data from your own bags"),
    "demo": ("geodistill_ros.demo", "the end-to-end demo on the embedded synthetic world"),
    "node-bench": ("geodistill_ros.node_bench", "latency, CPU and memory of the node process at camera rate"),
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="geodistill", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = next((a for a in argv if not a.startswith("-")), None)
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == wanted:  # only the chosen command's module is imported
            module = importlib.import_module(module_name)
            module.add_arguments(p)
            p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0 if not argv else 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
