"""``geodistill train weak|distill|orientation --config YAML --data ROOT --out DIR``.

Re-running the same command resumes from ``DIR/last.pt``. Multi-GPU / multi-node:
``torchrun --nproc_per_node N -m training.cli_train weak ...`` (DDP; gloo on CPU, nccl on CUDA).
"""

from __future__ import annotations

import argparse
import json
import sys

from training.config import load_config
from training.engine import STAGES, train


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stage", choices=STAGES, help="weak base model, GeoDistill student, or orientation net")
    parser.add_argument("--config", default=None, help="YAML config (training/configs/*.yaml); defaults otherwise")
    parser.add_argument("--data", default=None, help="dataset root (overrides data.root)")
    parser.add_argument("--out", required=True, help="run folder: last.pt, metrics.jsonl, summary.json")
    parser.add_argument("--init", default=None, help="checkpoint to start from, same kind and settings "
                        "(distill: the weak model; orientation: a trained orientation net to fine-tune)")
    parser.add_argument("--steps", type=int, default=None, help="override optim.steps")
    parser.add_argument("--batch-size", type=int, default=None, help="override optim.batch_size")
    parser.add_argument("--device", default=None, help="override run.device (cpu, cuda, cuda:1)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=YAML",
                        help="override any config field, e.g. --set distill.ema_decay=0.99")
    parser.add_argument("--no-progress", action="store_true")


def overrides_from_args(args) -> dict:
    import yaml

    over: dict = {"stage": args.stage}
    if args.data:
        over.setdefault("data", {})["root"] = args.data
    if args.init:
        over.setdefault("run", {})["init_from"] = args.init
    if args.steps is not None:
        over.setdefault("optim", {})["steps"] = args.steps
    if args.batch_size is not None:
        over.setdefault("optim", {})["batch_size"] = args.batch_size
    if args.device:
        over.setdefault("run", {})["device"] = args.device
    if args.threads is not None:
        over.setdefault("run", {})["threads"] = args.threads
    for item in args.set:
        key, _, value = item.partition("=")
        if "." not in key or not _:
            raise SystemExit(f"--set expects SECTION.FIELD=VALUE, got {item!r}")
        section, name = key.split(".", 1)
        over.setdefault(section, {})[name] = yaml.safe_load(value)
    return over


def run(args) -> int:
    cfg = load_config(args.config, overrides_from_args(args))
    if cfg.stage != args.stage:
        cfg.stage = args.stage
    if not cfg.data.root:
        print("no dataset: pass --data ROOT or set data.root in the config", file=sys.stderr)
        return 2
    summary = train(cfg, args.out, progress=not args.no_progress)
    if int(__import__("os").environ.get("RANK", "0")) == 0:
        from pathlib import Path

        (Path(args.out) / "summary.json").write_text(json.dumps(summary, indent=2))
        print(json.dumps(summary))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="geodistill train", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
