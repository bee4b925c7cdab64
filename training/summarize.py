"""Compare evaluated runs: weak base vs GeoDistill student vs the equal-time masked control, plus yaw.

    python -m training.summarize --run weak=runs/weak --run student=runs/distill \
        --run control=runs/control --baseline weak --out runs/summary.json --markdown docs/TRAINING_RESULTS.md

Each run folder holds ``eval.json`` (written by ``geodistill eval``) and, when it was trained,
``summary.json`` and ``metrics.jsonl`` (written by ``geodistill train``). The JSON gathers every metric per
run and FoV, the training throughput and time, and each run's mean-error change against the baseline
(negative = lower error). The markdown file holds the same figures as tables; an existing markdown file keeps
everything from its ``## Findings (written by hand`` heading on.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

TABLE_KEYS = (("mean_m", "mean (m)", "{:.2f}"), ("median_m", "median (m)", "{:.2f}"),
              ("recall_1m", "R@1m", "{:.1%}"), ("recall_3m", "R@3m", "{:.1%}"), ("recall_5m", "R@5m", "{:.1%}"),
              ("in_95_ellipse", "in 95% ellipse", "{:.1%}"), ("nll", "NLL", "{:.2f}"))


def load_run(folder: str | Path, eval_name: str = "eval.json") -> dict:
    """``eval_name`` (required) plus the training summary and last metrics record of a run folder."""
    folder = Path(folder)
    ev = folder / eval_name
    if not ev.is_file():
        raise FileNotFoundError(f"{ev} not found: run geodistill eval --out {ev} first")
    run = {"folder": str(folder), "eval": json.loads(ev.read_text())}
    if (folder / "summary.json").is_file():
        run["train"] = json.loads((folder / "summary.json").read_text())
    log = folder / "metrics.jsonl"
    if log.is_file():
        lines = [ln for ln in log.read_text().splitlines() if ln.strip()]
        if lines:
            run["last_log"] = json.loads(lines[-1])
    return run


def relative_change(value: float, baseline: float) -> float:
    """``(value - baseline) / baseline``; negative when ``value`` is lower."""
    if baseline == 0:
        raise ValueError("baseline is zero")
    return (value - baseline) / baseline


def compare(runs: dict[str, dict], baseline: str) -> dict:
    if baseline not in runs:
        raise ValueError(f"baseline {baseline!r} is not among the runs {sorted(runs)}")
    base = runs[baseline]["eval"]["fov"]
    out = {}
    for name, run in runs.items():
        if name == baseline:
            continue
        out[name] = {fov: {"mean_m": relative_change(m["mean_m"], base[fov]["mean_m"]),
                           "median_m": relative_change(m["median_m"], base[fov]["median_m"])}
                     for fov, m in run["eval"]["fov"].items() if fov in base}
    return out


def markdown(summary: dict) -> str:
    runs, base = summary["runs"], summary["baseline"]
    fovs = list(next(iter(runs.values()))["eval"]["fov"])
    lines = [f"# {summary.get('title') or 'Training results'}", "", summary.get("note", ""), ""]
    for fov in fovs:
        lines += [f"## FoV {fov} deg" + (" (panorama)" if fov == "360" else ""), "",
                  "| run | " + " | ".join(h for _, h, _ in TABLE_KEYS) + f" | mean vs {base} |",
                  "|---|" + "---|" * (len(TABLE_KEYS) + 1)]
        for name, run in runs.items():
            m = run["eval"]["fov"][fov]
            cells = [fmt.format(m[k]) if m.get(k) is not None else "-" for k, _, fmt in TABLE_KEYS]
            rel = summary["vs_baseline"].get(name, {}).get(fov, {}).get("mean_m")
            cells.append(f"{rel:+.1%}" if rel is not None else "baseline")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    yaw_rows = [(name, fov, m) for name, run in runs.items() for fov, m in run["eval"]["fov"].items()
                if m.get("yaw_median_deg") is not None]
    if yaw_rows:
        lines += ["## Orientation net (yaw error within +-45 deg, patch centred on the position estimate)", "",
                  "| localizer | FoV | yaw mean (deg) | yaw median (deg) | n |", "|---|---|---|---|---|"]
        lines += [f"| {name} | {fov} | {m['yaw_mean_deg']:.2f} | {m['yaw_median_deg']:.2f} | {m['n']} |"
                  for name, fov, m in yaw_rows]
        lines.append("")
    train_rows = [(name, run["train"]) for name, run in runs.items() if "train" in run]
    if train_rows:
        lines += ["## Training", "", "| run | steps | seconds | samples/s |", "|---|---|---|---|"]
        lines += [f"| {name} | {t['step']} | {t['seconds']:.0f} | {t['samples_per_s']:.1f} |" for name, t in train_rows]
        lines.append("")
    if summary.get("commands"):
        lines += ["## Reproduce", "", "```bash", *summary["commands"], "```", ""]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", action="append", required=True, metavar="NAME=FOLDER",
                        help="a run folder holding eval.json (repeat; the first is the baseline by default)")
    parser.add_argument("--baseline", default=None, help="run name the others are compared with")
    parser.add_argument("--eval-name", default="eval.json",
                        help="evaluation file in each run folder (e.g. eval_unseen.json for another test set)")
    parser.add_argument("--extra", action="append", default=[], metavar="NAME=JSON",
                        help="extra JSON files to embed (e.g. orientation=runs/orientation/summary.json)")
    parser.add_argument("--commands", default=None, help="text file with the commands that reproduce the runs")
    parser.add_argument("--title", default="Training results", help="the markdown title")
    parser.add_argument("--note", default="", help="a sentence placed under the markdown title")
    parser.add_argument("--out", required=True, help="summary JSON path")
    parser.add_argument("--markdown", default=None, help="markdown tables path")


HAND_WRITTEN = "## Findings (written by hand"


def keep_hand_written(generated: str, existing: str) -> str:
    """``generated`` tables, followed by the part of ``existing`` from the :data:`HAND_WRITTEN` heading on."""
    at = existing.find(HAND_WRITTEN)
    if at < 0:
        return generated
    return generated.rstrip("\n") + "\n\n" + existing[at:]


def run(args) -> int:
    runs = {}
    for item in args.run:
        name, sep, folder = item.partition("=")
        if not sep:
            raise SystemExit(f"--run expects NAME=FOLDER, got {item!r}")
        runs[name] = load_run(folder, args.eval_name)
    baseline = args.baseline or next(iter(runs))
    summary = {"baseline": baseline, "title": args.title, "note": args.note, "runs": runs,
               "vs_baseline": compare(runs, baseline)}
    for item in args.extra:
        name, _, path = item.partition("=")
        summary.setdefault("extra", {})[name] = json.loads(Path(path).read_text())
    if args.commands:
        summary["commands"] = [ln for ln in Path(args.commands).read_text().splitlines() if ln.strip()]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))
    text = markdown(summary)
    if args.markdown:
        md = Path(args.markdown)
        md.parent.mkdir(parents=True, exist_ok=True)
        md.write_text(keep_hand_written(text, md.read_text() if md.is_file() else ""))
    print(text)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
