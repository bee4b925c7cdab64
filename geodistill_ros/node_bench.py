"""``geodistill node-bench``: the localizer node as its own process, fed a synthetic bag at camera rate over DDS.

Figures (printed and written as JSON):

- image-in -> pose-out latency over DDS, p50 / p95 / p99 / max in ms: the recorder's arrival time of each pose
  minus the arrival time of the image with the same stamp (both taken in this process, on the same clock);
- the node process's CPU (percent of one core; 200 % = both cores of a 2-core machine) and resident memory
  (RSS, MiB), sampled from ``/proc/<pid>`` while the node answers frames at camera rate (the window from its first
  to its last pose, so model loading is not counted);
- frames answered / frames sent, and the node's own view from its last ``/diagnostics`` (latency from the image
  callback to the publish, p50 / p99 over its recent frames; frames dropped because a newer one arrived).

It reuses the demo's pieces (world and bag cache, the node's command line, replay + record); the only
difference from ``geodistill demo --rate R`` is the process sampling and the latency percentiles.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

LOG = logging.getLogger("geodistill.node_bench")
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


# --- process sampling (pure parsing + a sampler thread) ------------------------------------------------------
def parse_proc_stat(text: str) -> float:
    """CPU seconds (user + system) from the text of ``/proc/<pid>/stat``.

    The command name (field 2) may contain spaces and parentheses, so fields are counted after the last ``)``:
    utime and stime are fields 14 and 15 of the whole line, i.e. items 11 and 12 after the name.
    """
    rest = text[text.rindex(")") + 2:].split()
    return (int(rest[11]) + int(rest[12])) / CLOCK_TICKS_PER_S


def parse_proc_statm_rss_mib(text: str) -> float:
    """Resident set size in MiB from the text of ``/proc/<pid>/statm`` (second field, in pages)."""
    return int(text.split()[1]) * PAGE_BYTES / 2**20


@dataclass
class ProcessSamples:
    """``t_ns`` wall-clock times (``time.time_ns``), ``cpu_s`` cumulative CPU seconds, ``rss_mib``."""

    t_ns: list[int] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)

    def window(self, start_ns: int, end_ns: int) -> dict:
        """CPU percent (of one core) and RSS over ``[start_ns, end_ns]``; empty dict with fewer than 2 samples."""
        t = np.asarray(self.t_ns, dtype=np.int64)
        keep = (t >= start_ns) & (t <= end_ns)
        if keep.sum() < 2:
            return {}
        cpu = np.asarray(self.cpu_s)[keep]
        rss = np.asarray(self.rss_mib)[keep]
        span_s = (t[keep][-1] - t[keep][0]) / 1e9
        return {"cpu_percent_of_one_core": round(100.0 * float(cpu[-1] - cpu[0]) / span_s, 1),
                "rss_mib_mean": round(float(rss.mean()), 1), "rss_mib_max": round(float(rss.max()), 1),
                "rss_mib_growth": round(float(rss[-1] - rss[0]), 1), "samples": int(keep.sum()),
                "window_s": round(span_s, 2)}


class ProcessSampler:
    """Samples a process's CPU time and RSS every ``period_s`` on a daemon thread until :meth:`stop`."""

    def __init__(self, pid: int, period_s: float = 0.2):
        self.pid, self.period_s = pid, period_s
        self.samples = ProcessSamples()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"sample-{pid}", daemon=True)

    def start(self) -> ProcessSampler:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                stat = Path(f"/proc/{self.pid}/stat").read_text()
                statm = Path(f"/proc/{self.pid}/statm").read_text()
            except OSError:  # the process ended
                return
            self.samples.t_ns.append(time.time_ns())
            self.samples.cpu_s.append(parse_proc_stat(stat))
            self.samples.rss_mib.append(parse_proc_statm_rss_mib(statm))
            self._stop.wait(self.period_s)

    def stop(self) -> ProcessSamples:
        self._stop.set()
        self._thread.join(timeout=2.0)
        return self.samples


def latency_figures(latency_s: np.ndarray) -> dict:
    """p50 / p95 / p99 / max of the finite latencies, in ms (empty dict when there are none)."""
    lat = np.asarray(latency_s, dtype=np.float64)
    lat = lat[np.isfinite(lat)] * 1e3
    if lat.size == 0:
        return {}
    return {"latency_ms_p50": round(float(np.percentile(lat, 50)), 1),
            "latency_ms_p95": round(float(np.percentile(lat, 95)), 1),
            "latency_ms_p99": round(float(np.percentile(lat, 99)), 1),
            "latency_ms_max": round(float(lat.max()), 1), "latency_samples": int(lat.size)}


def node_diagnostics(msg) -> dict:
    """The node's own latency percentiles and drop count from one ``DiagnosticArray`` (empty if not the node's)."""
    for status in msg.status:
        values = {kv.key: kv.value for kv in status.values}
        if "latency_ms_p99" not in values:
            continue
        out = {}
        for key, name in (("latency_ms_p50", "node_latency_ms_p50"), ("latency_ms_p99", "node_latency_ms_p99"),
                          ("frames_dropped", "node_frames_dropped"), ("frames_received", "node_frames_received")):
            try:
                value = float(values[key])
            except (KeyError, ValueError):
                continue
            if np.isfinite(value):
                out[name] = round(value, 1) if "latency" in name else int(value)
        return out
    return {}


# --- the benchmark -------------------------------------------------------------------------------------------
def run_bench(out: Path, frames: int = 60, rate: float = 1.0, model: str | None = None, backend: str | None = None,
              camera_hz: float | None = None, node_params: dict[str, str] | None = None) -> dict:
    """Run the node on the demo bag at ``rate`` x real time and return the figures (also ``out/node_bench.json``).

    ``camera_hz``: the bag's camera rate, reported for reference (read from the bag when None);
    ``node_params``: extra node parameters (``{"inference_threads": "1"}``), reported with the figures.
    """
    from geodistill_ros import bagio, demo, evaluation

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = demo.DemoConfig(out=out, frames=frames, rate=rate, model=model, backend=backend)
    os.environ.update({k: v for k, v in demo.ros_environment().items() if k not in os.environ})
    bag = demo.ensure_bag(cfg, demo.ensure_world(cfg))
    sensors = evaluation.read_sensors(bag)
    tiles = evaluation.default_tiles(sensors)
    remaps, params = demo.node_inputs(bag, sensors.camera_topic)
    params["processing_rate_hz"] = "0.0"  # answer every frame it can; the worker still keeps only the newest
    params.update(node_params or {})
    cmd = demo.node_command(demo.params_file_path(), str(tiles), model, sensors.datum, backend, remaps, params)
    node_log = out / "node.log"
    recorded = out / "recorded"
    with open(node_log, "wb") as log_file:
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=demo.ros_environment(),
                                cwd=demo.REPO_DIR if (demo.REPO_DIR / "geodistill_ros").is_dir() else None)
        sampler = ProcessSampler(proc.pid).start()
        try:
            counts = demo.replay_and_record(cfg, bag, recorded, proc, node_log, sensors.camera_topic)
        finally:
            samples = sampler.stop()
            demo.stop_process(proc)
    track = evaluation.read_recorded(recorded, f"{demo.NAMESPACE}/pose", sensors.camera_topic)
    frame_stamps = np.asarray(sensors.frames_ns, dtype=np.int64)
    with bagio.open_reader(recorded) as reader:
        pose_arrivals = [t for _, _, t, _ in bagio.iter_messages(reader, [f"{demo.NAMESPACE}/pose"])]
        node_view = {}
        for _, msgtype, _, raw in bagio.iter_messages(reader, ["/diagnostics"]):
            node_view = node_diagnostics(bagio.deserialize(raw, msgtype)) or node_view
    figures = {"frames_sent": int(counts["published"].get(sensors.camera_topic, 0)),
               "poses": int(len(track)), "replay_rate": rate, "model": model or "shipped",
               "backend": backend or "auto", "cpu_count": os.cpu_count(), "node_params": dict(node_params or {})}
    if camera_hz is None and frame_stamps.size > 1:
        camera_hz = float((frame_stamps.size - 1) / ((frame_stamps[-1] - frame_stamps[0]) / 1e9))
    if camera_hz:
        figures["camera_hz"] = round(camera_hz * rate, 2)
    figures.update(latency_figures(track.latency_s))
    figures.update(node_view)  # the node's own view (image callback -> publish), from its last diagnostic
    if len(pose_arrivals) >= 2:
        figures.update(samples.window(min(pose_arrivals), max(pose_arrivals)))
    (out / "node_bench.json").write_text(json.dumps(figures, indent=2))
    return figures


def parse_node_params(items: list[str]) -> dict[str, str]:
    """``["inference_threads:=1", ...]`` (the ``--ros-args -p`` spelling) -> ``{"inference_threads": "1"}``."""
    params = {}
    for item in items:
        name, sep, value = item.partition(":=")
        if not sep or not name.strip():
            raise ValueError(f"--param expects NAME:=VALUE, got {item!r}")
        params[name.strip()] = value
    return params


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("out/node_bench"), help="output folder")
    parser.add_argument("--frames", type=int, default=60, help="frames in the demo bag")
    parser.add_argument("--rate", type=float, default=1.0, help="replay speed (1.0 = the bag's camera rate)")
    parser.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    parser.add_argument("--backend", default=None, help="tensorrt | onnxruntime | torch (default: auto)")
    parser.add_argument("-p", "--param", action="append", default=[], metavar="NAME:=VALUE",
                        help="extra node parameter, e.g. -p inference_threads:=1 (repeatable)")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        params = parse_node_params(args.param)
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc
    figures = run_bench(args.out, frames=args.frames, rate=args.rate, model=args.model, backend=args.backend,
                        node_params=params)
    print(json.dumps(figures, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="geodistill node-bench", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
