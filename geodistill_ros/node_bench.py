"""``geodistill node-bench``: the localizer node as its own process, fed a synthetic bag at camera rate over DDS.

Figures (printed and written as JSON):

- image-in -> pose-out latency over DDS, p50 / p95 / p99 / max in ms: from just after this process publishes an
  image to the arrival of the pose with the same stamp (one clock; this process does not subscribe to the
  images itself, so its receive path carries only the poses);
- the node process's CPU (percent of one core; 200 % = both cores of a 2-core machine) and resident memory
  (RSS, MiB), sampled from ``/proc/<pid>`` while the node answers frames at camera rate (the window from its first
  to its last pose, so model loading is not counted);
- frames answered / frames sent, and the node's own view from its last ``/diagnostics`` (latency from the image
  callback to the publish, p50 / p99 over its recent frames; frames dropped because a newer one arrived).

It reuses the demo's world and bag cache, the node's command line and the bag player.
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
    """``t_ns`` times (``time.monotonic_ns``), ``cpu_s`` cumulative CPU seconds, ``rss_mib``."""

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
            self.samples.t_ns.append(time.monotonic_ns())
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


def node_status(msg) -> dict[str, str] | None:
    """The key/values of the localizer node's status in one ``DiagnosticArray`` (None if it holds none)."""
    for status in msg.status:
        values = {kv.key: kv.value for kv in status.values}
        if "latency_ms_p99" in values:
            return values
    return None


def node_diagnostics(msg) -> dict:
    """The node's own latency percentiles and drop count from one ``DiagnosticArray`` (empty if not the node's)."""
    values = node_status(msg)
    out = {}
    for key, name in (("latency_ms_p50", "node_latency_ms_p50"), ("latency_ms_p99", "node_latency_ms_p99"),
                      ("frames_dropped", "node_frames_dropped"), ("frames_received", "node_frames_received")):
        try:
            value = float((values or {})[key])
        except (KeyError, ValueError):
            continue
        if np.isfinite(value):
            out[name] = round(value, 1) if "latency" in name else int(value)
    return out


# --- the benchmark -------------------------------------------------------------------------------------------
def play_and_time(bag: Path, camera_topic: str, topics: list[str], pose_topic: str, rate: float,
                  proc: subprocess.Popen, start_timeout_s: float = 180.0) -> dict:
    """Replay ``topics`` of ``bag`` to the running node at ``rate`` and time every frame over DDS.

    This process only publishes and listens to the (small) poses and diagnostics: it does not subscribe to the
    images, so its own DDS receive path is not filled with camera data. Returns ``published`` and ``answered``
    (image stamp -> ``time.monotonic_ns()`` after its publish / at its pose's arrival), ``diagnostics`` (the
    node's last figures) and the replay counts.
    """
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from geodistill_ros import bagio
    from geodistill_ros.replay import BagPlayer, ReplayConfig

    context = rclpy.context.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("geodistill_node_bench", context=context)
    published: dict[int, int] = {}
    answered: dict[int, int] = {}
    state = {"loaded": False, "node_view": {}}

    def on_pose(raw: bytes) -> None:
        answered.setdefault(bagio.header_stamp_ns(raw), time.monotonic_ns())

    def on_diagnostics(msg) -> None:
        values = node_status(msg)
        state["loaded"] = state["loaded"] or (values or {}).get("backend", "not loaded") != "not loaded"
        state["node_view"] = node_diagnostics(msg) or state["node_view"]

    node.create_subscription(bagio.message_class("geometry_msgs/msg/PoseWithCovarianceStamped"), pose_topic,
                             on_pose, QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE), raw=True)
    node.create_subscription(bagio.message_class("diagnostic_msgs/msg/DiagnosticArray"), "/diagnostics",
                             on_diagnostics, 10)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        player = BagPlayer(node, ReplayConfig(bag=bag, rate=rate, topics=topics, wait_s=start_timeout_s,
                                              publish_last=[camera_topic]))
        deadline = time.monotonic() + start_timeout_s
        while not state["loaded"]:  # the model loads before the first frame, so frame 1 is timed like the rest
            if proc.poll() is not None:
                raise RuntimeError(f"the node exited with code {proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the node did not load its model within {start_timeout_s:.0f} s")
            time.sleep(0.05)

        def after_publish(topic, _t_ns, raw):
            if topic == camera_topic:
                published[bagio.header_stamp_ns(raw)] = time.monotonic_ns()

        stats = player.play(progress=True, after_publish=after_publish)
        wait_until = time.monotonic() + 3.0
        while time.monotonic() < wait_until and len(answered) < len(published):
            time.sleep(0.05)
        time.sleep(1.1)  # one more diagnostics period
        return {"published": published, "answered": answered, "diagnostics": dict(state["node_view"]),
                "counts": dict(stats.published)}
    finally:
        executor.shutdown()
        spinner.join(timeout=5.0)
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def run_bench(out: Path, frames: int = 60, rate: float = 1.0, model: str | None = None, backend: str | None = None,
              node_params: dict[str, str] | None = None) -> dict:
    """Run the node on the demo bag at ``rate`` x real time and return the figures (also ``out/node_bench.json``).

    ``node_params``: extra node parameters (``{"inference_threads": "1"}``), reported with the figures.
    """
    from geodistill_ros import demo, evaluation

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
    topics = demo.replay_topics(sensors.camera_topic, remaps)
    with demo.running_node(cmd, out / "node.log") as proc:
        sampler = ProcessSampler(proc.pid).start()
        try:
            timed = play_and_time(bag, sensors.camera_topic, topics, f"{demo.NAMESPACE}/pose", rate, proc)
        finally:
            samples = sampler.stop()
    published, answered = timed["published"], timed["answered"]
    latency_s = np.array([(answered[s] - published[s]) / 1e9 for s in published if s in answered])
    frame_stamps = np.asarray(sensors.frames_ns, dtype=np.int64)
    figures = {"frames_sent": len(published), "poses": len(answered), "replay_rate": rate,
               "model": model or "shipped", "backend": backend or "auto", "cpu_count": os.cpu_count(),
               "node_params": dict(node_params or {})}
    if frame_stamps.size > 1:
        figures["camera_hz"] = round(rate * (frame_stamps.size - 1) / ((frame_stamps[-1] - frame_stamps[0]) / 1e9), 2)
    figures.update(latency_figures(latency_s))
    figures.update(timed["diagnostics"])  # the node's own view (image callback -> publish)
    if len(answered) >= 2:
        figures.update(samples.window(min(answered.values()), max(answered.values())))
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
