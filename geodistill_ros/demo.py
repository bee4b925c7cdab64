"""``geodistill demo``: the end-to-end demo on the embedded synthetic world (the README's first command).

1. builds the demo world and a panorama bag if they are not cached yet (``out/demo/``, git-ignored);
2. starts the localizer node as its own process (``python -m geodistill_ros.node --ros-args --params-file
   config/localize.yaml -p ...``) with the world's tiles, the shipped model and the world's datum;
3. replays the bag over DDS while recording the node's outputs (lock-step by default: each frame waits for
   its pose, so the result does not depend on how fast this machine is; ``--rate R`` replays on the clock);
4. scores the recorded poses against the ground truth next to the raw GPS prior, writes the report
   (``report.html``, ``metrics.json``, ``summary.json``, ``poses_bag/``, ``recorded/``) and prints a summary.

``--bag``, ``--tiles`` and ``--model`` run the same pipeline on a user's own bag, imagery and model.
Setting up the environment is the Makefile's job (``make demo``); this command sets up nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from geodistill_ros import bagio, evaluation, metrics
from geodistill_ros.camera import is_panorama_info

LOG = logging.getLogger("geodistill.demo")

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
NAMESPACE = "/geodistill"
INPUT_TOPICS = {  # node input (relative name) -> bag topic (the camera's is found in the bag)
    "camera_info": evaluation.CAMERA_INFO_TOPIC,
    "gps/fix": evaluation.GPS_TOPIC,
    "imu": evaluation.IMU_TOPIC,
}


class DemoError(RuntimeError):
    """A step of the demo failed (world/bag generation, the node process, no outputs)."""


@dataclass
class DemoConfig:
    out: Path = Path("out/demo/report")
    cache: Path = Path("out/demo")
    bag: Path | None = None  # a user's bag (default: the demo bag, built if missing)
    tiles: str | None = None  # default: the bag's world tiles
    model: str | None = None  # default: the shipped model
    frames: int = 60
    seed: int = 2025
    style: str = "suburb"
    world_size_m: float = 600.0
    params_file: Path | None = None  # default: config/localize.yaml
    rate: float | None = None  # None: lock-step replay
    frame_timeout_s: float = 20.0  # lock-step: longest wait for one frame's pose (the first: node_start_timeout_s)
    lock_step_rate: float = 20.0  # lock-step: bag-clock speed between frames (fixes, headings)
    settle_s: float = 1.0  # after matching, let the node's side of discovery finish before the first message
    node_start_timeout_s: float = 120.0
    input_settle_s: float = 0.02  # lock-step: pause after each non-camera message
    give_up_after_frames: int = 5  # lock-step: stop when the node answered none of the first N frames
    backend: str | None = None
    tilt: bool = False  # the demo bag with the gap's vehicle tilt (its IMU reports roll and pitch)
    level_with_imu: bool = False  # the node levels each frame by the IMU's roll and pitch


# --- inputs -----------------------------------------------------------------------------------------------
def params_file_path(explicit: Path | None = None) -> Path:
    """``config/localize.yaml`` from the source tree, else from the installed package share."""
    if explicit is not None:
        return Path(explicit)
    candidates = [REPO_DIR / "config" / "localize.yaml"]
    try:
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory("geodistill_ros")) / "config" / "localize.yaml")
    except Exception:  # noqa: BLE001 - ament index absent or package not installed
        pass
    for path in candidates:
        if path.exists():
            return path
    raise DemoError(f"no localize.yaml found (looked in {[str(c) for c in candidates]})")


def _synth(argv: list[str]) -> None:
    from geodistill_ros.cli import main as cli_main

    LOG.info("geodistill %s", " ".join(argv))
    rc = cli_main(argv)
    if rc:
        raise DemoError(f"`geodistill {' '.join(argv)}` failed with exit code {rc}")


def ensure_world(cfg: DemoConfig) -> Path:
    """The demo world folder (generated once, then reused)."""
    world = cfg.cache / f"world_{cfg.style}_s{cfg.seed}_{int(cfg.world_size_m)}m"
    if not (world / "world.json").exists():
        _synth(["synth", "world", "--seed", str(cfg.seed), "--style", cfg.style, "--size", str(cfg.world_size_m),
                "--baseline", "0", "--out", str(world), "--overwrite"])
    return world


def ensure_bag(cfg: DemoConfig, world: Path) -> Path:
    """The demo bag (``frames`` panorama frames through the world, tilted with ``tilt``; generated once, then
    reused)."""
    bag = cfg.cache / f"bag_{world.name}_{cfg.frames}f{'_tilt' if cfg.tilt else ''}"
    if not (bag / "metadata.yaml").exists():
        _synth(["synth", "bag", "--world", str(world), "--camera", "panorama", "--frames", str(cfg.frames),
                "--traj-seed", str(cfg.seed), "--out", str(bag), "--overwrite", *(["--tilt"] if cfg.tilt else [])])
    return bag


# --- the model ----------------------------------------------------------------------------------------------
def default_model_dir() -> Path:
    """The shipped default model folder (``geodistill_ros/models``), as the node resolves ``model_dir: ""``."""
    from geodistill_ros.localizer import DEFAULT_MODEL_DIR

    return Path(DEFAULT_MODEL_DIR)


def params_model_dir(params_file: Path) -> str:
    """``model_dir`` set in a node parameters file (``""`` when unset)."""
    import yaml

    try:
        doc = yaml.safe_load(Path(params_file).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DemoError(f"cannot read the parameters file {params_file}: {exc}") from exc
    for section in doc.values() if isinstance(doc, dict) else []:
        params = section.get("ros__parameters") if isinstance(section, dict) else None
        if isinstance(params, dict) and params.get("model_dir"):
            return str(params["model_dir"])
    return ""


def check_model(model_dir: Path) -> dict:
    """Fail early, with what to do, when ``model_dir`` holds no usable exported model; returns its model.json."""
    from geodistill_ros.inference.errors import ModelFileError
    from geodistill_ros.inference.model_files import graph_io, onnx_path, pt2_path, read_model_json

    model_dir = Path(model_dir)
    how = ("The demo needs an exported model: the default one lives in geodistill_ros/models (train it with "
           "`geodistill train`, then `geodistill export --out geodistill_ros/models`), or pass --model DIR "
           "with a folder holding model.json and the ONNX graphs.")
    try:
        meta = read_model_json(model_dir)
    except ModelFileError as exc:
        raise DemoError(f"no usable model in {model_dir}: {exc}. {how}") from None
    missing = [g for g in graph_io(meta)
               if not onnx_path(model_dir, g).exists() and not pt2_path(model_dir, g).exists()]
    if missing:
        raise DemoError(f"incomplete model in {model_dir}: no graph file for {missing}. {how}")
    return meta


# --- the node process ---------------------------------------------------------------------------------------
def node_inputs(bag: Path, camera_topic: str) -> tuple[dict[str, str], dict[str, str]]:
    """``(remaps, parameters)`` wiring the node to the bag: its camera topic (raw or compressed), panorama or
    pinhole (from the CameraInfo), and the IMU heading when the bag has one."""
    with bagio.open_reader(bag) as reader:
        info = bagio.topics(reader)
        camera_info = None
        if INPUT_TOPICS["camera_info"] in info:
            for _topic, msgtype, _t, raw in bagio.iter_messages(reader, [INPUT_TOPICS["camera_info"]]):
                camera_info = bagio.deserialize(raw, msgtype)
                break
    compressed = info[camera_topic].msgtype == "sensor_msgs/msg/CompressedImage"
    remaps = {"image/compressed" if compressed else "image": camera_topic}
    remaps.update({name: topic for name, topic in INPUT_TOPICS.items() if topic in info})
    panorama = camera_info is None or is_panorama_info(camera_info)
    params = {"image_transport": "compressed" if compressed else "raw",
              "camera_model": "panorama" if panorama else "pinhole",
              # the synthetic bags carry an absolute ENU heading on /imu/data
              "heading_source": "imu" if INPUT_TOPICS["imu"] in info else "none"}
    return remaps, params


def node_command(params_file: Path, tiles: str, model: str | None, datum: tuple[float, float],
                 backend: str | None = None, remaps: dict[str, str] | None = None,
                 params: dict[str, str] | None = None) -> list[str]:
    """The node's command line, as the launch file starts it, plus the demo's parameters and remaps."""
    cmd = [sys.executable, "-m", "geodistill_ros.node", "--ros-args", "--params-file", str(params_file),
           "-r", f"__ns:={NAMESPACE}", "-p", f"tile_source:={tiles}", "-p", f"datum:=[{datum[0]!r}, {datum[1]!r}]"]
    if model:
        cmd += ["-p", f"model_dir:={model}"]
    if backend:
        cmd += ["-p", f"backend:={backend}"]
    for name, value in (params or {}).items():
        cmd += ["-p", f"{name}:={value}"]
    for name, target in (remaps or {}).items():
        cmd += ["-r", f"{name}:={target}"]
    return cmd


def ros_environment() -> dict:
    """The environment DDS needs (what scripts/env.sh sets), without overriding the caller's choices."""
    env = dict(os.environ)
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    profile = str(REPO_DIR / "config" / "fastdds_shm.xml")
    if Path(profile).exists():
        env.setdefault("FASTRTPS_DEFAULT_PROFILES_FILE", profile)
        env.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", profile)
    env.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_DIR), env.get("PYTHONPATH", "")]))
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def replay_topics(camera_topic: str, remaps: dict[str, str]) -> list[str]:
    """The bag topics to play to the node: its camera, then the inputs :func:`node_inputs` wired up."""
    return [camera_topic, *(t for t in INPUT_TOPICS.values() if t in remaps.values())]


@contextlib.contextmanager
def running_node(cmd: list[str], log_path: Path):
    """Start the node process (output to ``log_path``) in this repository's environment; stop it on exit."""
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=ros_environment(),
                                cwd=REPO_DIR if (REPO_DIR / "geodistill_ros").is_dir() else None)
        try:
            yield proc
        finally:
            stop_process(proc)


def stop_process(proc: subprocess.Popen, timeout_s: float = 10.0) -> int | None:
    """SIGINT (a clean rclpy shutdown), then SIGTERM, then SIGKILL."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            break
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            continue
    return proc.poll()


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --- replay + record ---------------------------------------------------------------------------------------
class _StampWatcher:
    """Header stamps seen on a topic (raw subscription; only the header is parsed)."""

    def __init__(self, node, topic: str, msgtype: str):
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        self.stamps: set[int] = set()
        self.cond = threading.Condition()
        node.create_subscription(bagio.message_class(msgtype), topic, self._on, raw=True,
                                 qos_profile=QoSProfile(depth=100, reliability=ReliabilityPolicy.BEST_EFFORT))

    def _on(self, raw: bytes) -> None:
        with self.cond:
            self.stamps.add(bagio.header_stamp_ns(raw))
            self.cond.notify_all()

    def wait_for(self, stamp_ns: int, timeout_s: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: stamp_ns in self.stamps, timeout=timeout_s)


def replay_and_record(cfg: DemoConfig, bag: Path, recorded: Path, node_proc: subprocess.Popen, node_log: Path,
                      camera_topic: str, topics: list[str]) -> dict:
    """Replay ``bag`` to the running node and record its outputs into ``recorded``; returns counts."""
    import rclpy
    from rclpy.executors import MultiThreadedExecutor

    from geodistill_ros.recorder import Recorder, RecorderConfig
    from geodistill_ros.replay import BagPlayer, ReplayConfig

    context = rclpy.context.Context()
    rclpy.init(context=context)
    executor = MultiThreadedExecutor(num_threads=2, context=context)
    rec_node = rclpy.create_node("geodistill_demo_recorder", namespace=NAMESPACE, context=context)
    play_node = rclpy.create_node("geodistill_demo_player", context=context)
    executor.add_node(rec_node)
    recorder = Recorder(rec_node, RecorderConfig(out=recorded, topics=["pose", "fix", "/diagnostics"],
                                                 arrival_topics=[camera_topic], overwrite=True))
    watcher = _StampWatcher(rec_node, f"{NAMESPACE}/pose", "geometry_msgs/msg/PoseWithCovarianceStamped")
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        # a frame goes out after the fix and heading recorded at the same instant, so the node has them
        player = BagPlayer(play_node, ReplayConfig(bag=bag, rate=cfg.rate or cfg.lock_step_rate, topics=topics,
                                                   wait_s=cfg.node_start_timeout_s, publish_last=[camera_topic],
                                                   start_delay_s=cfg.settle_s))
        missed, waits = [], []
        # the player's publishers exist now, so the recorder can match the camera topic (arrival times) too
        deadline = time.monotonic() + cfg.node_start_timeout_s
        while not recorder.matched():
            if node_proc.poll() is not None:
                raise DemoError(f"the node exited with code {node_proc.returncode}:\n{_tail(node_log)}")
            if time.monotonic() > deadline:
                raise DemoError(f"the node's outputs did not appear within {cfg.node_start_timeout_s:.0f} s "
                                f"(still waiting for {recorder.pending or 'a match'}):\n{_tail(node_log)}")
            time.sleep(0.05)

        def lock_step(topic, t_ns, raw):
            if topic != camera_topic:
                # let the node take this fix / heading before the frame recorded with it arrives on another
                # topic (DDS keeps no order across topics): the figures then do not depend on the machine
                time.sleep(cfg.input_settle_s)
                return
            stamp = bagio.header_stamp_ns(raw)
            # the first frame loads the model; later ones get a few times the typical answer time
            if not waits:
                timeout = cfg.node_start_timeout_s if not missed else cfg.frame_timeout_s
            else:
                timeout = min(cfg.frame_timeout_s, max(2.0, 5.0 * sorted(waits)[len(waits) // 2]))
            t0 = time.monotonic()
            if watcher.wait_for(stamp, timeout):
                waits.append(time.monotonic() - t0)
            else:
                missed.append(stamp)
                if not waits and len(missed) >= cfg.give_up_after_frames:
                    raise DemoError(f"the node answered none of the first {len(missed)} frames; the end of "
                                    f"{node_log}:\n{_tail(node_log)}")
            if node_proc.poll() is not None:
                raise DemoError(f"the node exited with code {node_proc.returncode}:\n{_tail(node_log)}")

        stats = player.play(progress=True, after_publish=None if cfg.rate else lock_step)
        if cfg.rate:  # give the node time for the last frames
            time.sleep(min(5.0, cfg.frame_timeout_s))
        else:
            time.sleep(0.3)  # the last fix / diagnostics
        return {"published": dict(stats.published), "replay_s": stats.wall_s, "frames_without_pose": len(missed)}
    finally:
        executor.shutdown()
        spinner.join(timeout=5)
        rec_stats = recorder.stop()
        LOG.info("recorded %s", dict(rec_stats.counts))
        play_node.destroy_node()
        rec_node.destroy_node()
        rclpy.try_shutdown(context=context)


# --- the demo ----------------------------------------------------------------------------------------------
def write_summary(out: Path, result: dict, extra: dict) -> dict:
    summary = {"ours": metrics.short_summary(result["ours"]), "gps_prior": metrics.short_summary(result["gps_prior"]),
               **extra}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def run_demo(cfg: DemoConfig) -> dict:
    t_start = time.monotonic()
    params = params_file_path(cfg.params_file)
    model_dir = Path(cfg.model or params_model_dir(params) or default_model_dir()).resolve()
    check_model(model_dir)  # before minutes of world building and node start-up
    os.environ.update({k: v for k, v in ros_environment().items() if k not in os.environ})
    cfg.out.mkdir(parents=True, exist_ok=True)
    if cfg.bag is None:
        world = ensure_world(cfg)
        bag = ensure_bag(cfg, world)
    else:
        bag = Path(cfg.bag)
    t_data = time.monotonic() - t_start
    sensors = evaluation.read_sensors(bag)
    tiles = cfg.tiles or evaluation.default_tiles(sensors)
    if not tiles:
        raise DemoError(f"no tile source for {bag}: give --tiles")
    remaps, node_params = node_inputs(bag, sensors.camera_topic)
    if not cfg.rate:  # lock-step paces the frames itself; a rate limit would only add waiting to the latency
        node_params["processing_rate_hz"] = "0.0"
    if cfg.level_with_imu:
        node_params["level_with_imu"] = "true"
    cmd = node_command(params, str(tiles), cfg.model, sensors.datum, cfg.backend, remaps, node_params)
    node_log = cfg.out / "node.log"
    recorded = cfg.out / "recorded"
    LOG.info("starting the node: %s", " ".join(cmd))
    with running_node(cmd, node_log) as node_proc:
        t0 = time.monotonic()
        counts = replay_and_record(cfg, bag, recorded, node_proc, node_log, sensors.camera_topic,
                                   replay_topics(sensors.camera_topic, remaps))
        t_replay = time.monotonic() - t0
    ours = evaluation.read_recorded(recorded, f"{NAMESPACE}/pose", sensors.camera_topic)
    extra = {"bag": str(bag), "tiles": str(tiles), "model": str(model_dir), "mode": "demo (node over DDS)",
             **counts}
    result = evaluation.evaluate(sensors, ours, cfg.out, tiles=str(tiles), title=f"demo: {bag.name}", extra=extra)
    timing = {"data_s": round(t_data, 1), "node_and_replay_s": round(t_replay, 1),
              "total_s": round(time.monotonic() - t_start, 1)}
    summary = write_summary(cfg.out, result, {"timing": timing, "bag": str(bag), "model": str(model_dir)})
    if not result["ours"]["localized"]:
        raise DemoError(f"the node published no pose for any of the {result['frames']} frames (report written to "
                        f"{cfg.out}); the end of {node_log}:\n{_tail(node_log)}")
    return summary | {"_result": result}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = DemoConfig()
    parser.add_argument("--out", type=Path, default=d.out, help=f"report folder (default {d.out})")
    parser.add_argument("--cache", type=Path, default=d.cache, help=f"world and bag cache (default {d.cache})")
    parser.add_argument("--bag", type=Path, default=None, help="your own bag instead of the demo bag")
    parser.add_argument("--tiles", default=None, help="tile source (default: the bag's world tiles)")
    parser.add_argument("--model", default=None,
                        help="model folder with model.json and the ONNX graphs (default: geodistill_ros/models)")
    parser.add_argument("--frames", type=int, default=d.frames, help=f"demo bag frames (default {d.frames})")
    parser.add_argument("--seed", type=int, default=d.seed, help=f"demo world seed (default {d.seed})")
    parser.add_argument("--style", default=d.style, help=f"demo world style (default {d.style})")
    parser.add_argument("--world-size", type=float, default=d.world_size_m, help="demo world side, metres")
    parser.add_argument("--params-file", type=Path, default=None, help="node parameters (default config/localize.yaml)")
    parser.add_argument("--backend", default=None, help="inference backend for the node (default: the params file's)")
    parser.add_argument("--tilt", action="store_true",
                        help="the demo drive with the gap's vehicle tilt (its IMU reports roll and pitch)")
    parser.add_argument("--level-with-imu", action="store_true",
                        help="the node levels each frame by the IMU's roll and pitch (node parameter level_with_imu)")
    parser.add_argument("--rate", type=float, default=None,
                        help="bag-clock replay at this rate (default: lock-step: each frame waits for its pose)")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = DemoConfig(out=args.out, cache=args.cache, bag=args.bag, tiles=args.tiles, model=args.model,
                     frames=args.frames, seed=args.seed, style=args.style, world_size_m=args.world_size,
                     params_file=args.params_file, rate=args.rate, backend=args.backend, tilt=args.tilt,
                     level_with_imu=args.level_with_imu)
    try:
        summary = run_demo(cfg)
    except (DemoError, evaluation.EvaluationError, bagio.BagError) as exc:
        LOG.error("%s", exc)
        return 1
    result = summary.pop("_result")
    print()
    print(evaluation.format_summary(result))
    ours, gps = summary["ours"], summary["gps_prior"]
    if ours["median_m"] is not None and gps["median_m"]:
        print(f"median error {ours['median_m']:.2f} m vs {gps['median_m']:.2f} m for the GPS prior "
              f"({gps['median_m'] / max(ours['median_m'], 1e-9):.1f}x better); {summary['timing']['total_s']:.0f} s")
    print(f"report: {(cfg.out / 'report.html').resolve()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="geodistill demo", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
