"""``geodistill replay BAG``: play a rosbag2 over DDS, like ``ros2 bag play``, where rosbag2 is not installed.

Messages are read with ``rosbags`` (MCAP or sqlite3) and published with rclpy as the raw CDR bytes from the
bag (no deserialization), on publishers of the class named by each topic's type, in recorded order and
with the recorded spacing divided by ``--rate``.  Each topic's QoS follows the profiles recorded in the bag
metadata (all reliable -> reliable, else best effort; all transient-local -> transient-local, else volatile),
or, when the bag has none, reliable/volatile (sensor-data QoS for images).  ``--clock [HZ]`` publishes
``/clock`` at the bag's time.  Before the first message the player waits (``--wait-s``) until every topic
in ``--wait-topics`` (default: every played topic) has a matched subscriber, so nothing is lost to discovery.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rosbags.interfaces import Qos, QosDurability, QosHistory, QosReliability

from geodistill_ros import bagio

LOG = logging.getLogger("geodistill.replay")

SENSOR_DATA_TYPES = frozenset({"sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage"})
CLOCK_TOPIC = "/clock"


@dataclass
class ReplayConfig:
    bag: Path
    rate: float = 1.0
    clock_hz: float = 0.0  # > 0: publish /clock at this rate (and before every message)
    topics: list[str] | None = None  # play only these (default: all)
    loops: int = 1  # how many times to play the bag; 0 = until interrupted (``--loop``)
    wait_s: float = 10.0  # how long to wait for subscribers before the first message
    wait_topics: list[str] | None = None  # topics that must have a subscriber (default: all played topics)
    start_delay_s: float = 0.25  # pause after matching, while the subscribers' side of discovery completes
    publish_last: Sequence[str] = ()  # among messages recorded at the same time, publish these topics last

    def __post_init__(self) -> None:
        self.bag = Path(self.bag)
        if not self.rate > 0:
            raise ValueError(f"rate must be > 0, got {self.rate}")
        if self.loops < 0:
            raise ValueError(f"loops must be >= 0, got {self.loops}")
        if self.clock_hz < 0:
            raise ValueError(f"clock rate must be >= 0, got {self.clock_hz}")


@dataclass(frozen=True)
class QosChoice:
    """The QoS a replay publisher uses for one topic (plain values; converted to rclpy in :func:`to_rclpy`)."""

    reliable: bool
    transient_local: bool
    depth: int
    keep_all: bool = False


@dataclass
class ReplayStats:
    published: Counter = field(default_factory=Counter)
    matched: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    max_lateness_s: float = 0.0  # worst delay behind the schedule
    loops: int = 0

    @property
    def total(self) -> int:
        return sum(self.published.values())


def choose_qos(offered: Sequence[Qos], msgtype: str) -> QosChoice:
    """Pick a publisher QoS that every recorded publisher's subscribers can match (``ros2 bag play``'s rule)."""
    if not offered:
        if bagio.normalize_msgtype(msgtype) in SENSOR_DATA_TYPES:
            return QosChoice(reliable=False, transient_local=False, depth=5)
        return QosChoice(reliable=True, transient_local=False, depth=10)
    reliable = all(q.reliability in (QosReliability.RELIABLE, QosReliability.SYSTEM_DEFAULT) for q in offered)
    transient_local = all(q.durability == QosDurability.TRANSIENT_LOCAL for q in offered)
    keep_all = any(q.history == QosHistory.KEEP_ALL for q in offered)
    depths = [q.depth for q in offered if q.depth > 0]
    return QosChoice(reliable=reliable, transient_local=transient_local, depth=max(depths, default=10),
                     keep_all=keep_all)


def to_rclpy(choice: QosChoice):
    """:class:`QosChoice` -> ``rclpy.qos.QoSProfile``."""
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(
        history=HistoryPolicy.KEEP_ALL if choice.keep_all else HistoryPolicy.KEEP_LAST,
        depth=max(1, choice.depth),
        reliability=ReliabilityPolicy.RELIABLE if choice.reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if choice.transient_local else DurabilityPolicy.VOLATILE,
    )


def schedule_offset_s(log_time_ns: int, first_ns: int, rate: float) -> float:
    """Wall-clock seconds after the start at which a message recorded at ``log_time_ns`` is published."""
    return (log_time_ns - first_ns) / 1e9 / rate


def _clock_msg(stamp_ns: int):
    from rosgraph_msgs.msg import Clock

    msg = Clock()
    msg.clock.sec = int(stamp_ns // 1_000_000_000)
    msg.clock.nanosec = int(stamp_ns % 1_000_000_000)
    return msg


class BagPlayer:
    """Publishes one bag's messages through ``node`` (an rclpy Node the caller owns and spins if needed)."""

    def __init__(self, node, config: ReplayConfig):
        self.node = node
        self.config = config
        self.publishers: dict[str, object] = {}
        self.qos: dict[str, QosChoice] = {}
        self._clock_pub = None
        with bagio.open_reader(config.bag) as reader:
            self.info = bagio.topics(reader)
            self.start_ns = reader.start_time
            self.end_ns = reader.end_time
            wanted = set(config.topics) if config.topics else set(self.info)
            missing = wanted - set(self.info)
            if missing:
                raise bagio.BagError(f"topics not in {config.bag}: {sorted(missing)}; bag has {sorted(self.info)}")
            if config.clock_hz > 0:
                wanted.discard(CLOCK_TOPIC)  # we publish our own clock
            self.topics = sorted(wanted)
            offered: dict[str, list[Qos]] = {t: [] for t in self.topics}
            for conn in reader.connections:  # several connections on one topic: pool their profiles
                if conn.topic in offered:
                    offered[conn.topic] += list(getattr(conn.ext, "offered_qos_profiles", None) or [])
            self.qos = {t: choose_qos(offered[t], self.info[t].msgtype) for t in self.topics}
        for topic in self.topics:
            cls = bagio.message_class(self.info[topic].msgtype)
            self.publishers[topic] = node.create_publisher(cls, topic, to_rclpy(self.qos[topic]))
        if config.clock_hz > 0:
            from rclpy.qos import QoSProfile
            from rosgraph_msgs.msg import Clock

            self._clock_pub = node.create_publisher(Clock, CLOCK_TOPIC, QoSProfile(depth=10))

    # -- matching ---------------------------------------------------------------------------------------
    def wait_for_subscribers(self, topics: Sequence[str] | None = None, timeout_s: float | None = None) -> dict:
        """Block until each topic's publisher has a matched subscription (or the timeout); return the counts."""
        topics = list(self.config.wait_topics or self.topics) if topics is None else list(topics)
        pubs = dict(self.publishers)
        if self._clock_pub is not None:
            pubs[CLOCK_TOPIC] = self._clock_pub
        unknown = set(topics) - set(pubs)
        if unknown:
            raise ValueError(f"cannot wait on topics that are not played: {sorted(unknown)}")
        timeout_s = self.config.wait_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout_s
        while True:
            counts = {t: pubs[t].get_subscription_count() for t in topics}
            if all(counts.values()) or time.monotonic() >= deadline:
                break
            time.sleep(0.01)
        lonely = sorted(t for t, c in counts.items() if c == 0)
        if lonely:
            LOG.warning("no subscriber after %.1f s on %s; playing anyway", timeout_s, lonely)
        return counts

    # -- playing ----------------------------------------------------------------------------------------
    def _publish_clock(self, bag_time_ns: int) -> None:
        if self._clock_pub is not None:
            self._clock_pub.publish(_clock_msg(bag_time_ns))

    def _sleep_until(self, target: float, base: float, first_ns: int) -> None:
        """Sleep to monotonic ``target``, publishing /clock at ``clock_hz`` meanwhile."""
        period = 1.0 / self.config.clock_hz if self._clock_pub is not None else None
        while True:
            now = time.monotonic()
            if now >= target:
                return
            step = target - now
            if period is not None:
                self._publish_clock(first_ns + int((now - base) * self.config.rate * 1e9))
                step = min(step, period)
            time.sleep(min(step, 0.1))

    def play(self, progress: bool = True, after_publish=None) -> ReplayStats:
        """Play the bag ``loops`` times (0: until interrupted); returns what was published.

        ``after_publish(topic, log_time_ns, raw)``, when given, runs after every message; the schedule pauses
        while it runs (a caller can hold playback until a consumer has answered: lock-step replay).
        """
        stats = ReplayStats()
        stats.matched = self.wait_for_subscribers()
        if self.config.start_delay_s > 0:
            time.sleep(self.config.start_delay_s)
        t_start = time.monotonic()
        total = sum(self.info[t].count for t in self.topics)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="msg", desc=f"replay {self.config.bag.name}", leave=False)
        try:
            while True:
                self._play_once(stats, bar, after_publish)
                stats.loops += 1
                if self.config.loops and stats.loops >= self.config.loops:
                    break
                if bar is not None:
                    bar.reset()
        finally:
            if bar is not None:
                bar.close()
        self.drain()
        stats.wall_s = time.monotonic() - t_start
        return stats

    def drain(self, timeout_s: float = 2.0, linger_s: float = 0.2) -> None:
        """Before the caller tears the node down: wait until reliable subscribers acknowledged everything,
        and linger a moment so best-effort samples leave the process."""
        from rclpy.duration import Duration

        deadline = time.monotonic() + timeout_s
        for topic, pub in self.publishers.items():
            if self.qos[topic].reliable:
                left = max(0.0, deadline - time.monotonic())
                if not pub.wait_for_all_acked(Duration(nanoseconds=int(left * 1e9))):
                    LOG.warning("subscribers of %s did not acknowledge every message within %.1f s", topic, timeout_s)
        time.sleep(linger_s)

    def _play_once(self, stats: ReplayStats, bar, after_publish=None) -> None:
        base = time.monotonic()
        first_ns = None
        with bagio.open_reader(self.config.bag) as reader:
            for topic, _msgtype, t_ns, raw in bagio.order_equal_times(bagio.iter_messages(reader, self.topics),
                                                                      self.config.publish_last):
                if first_ns is None:
                    first_ns = t_ns
                target = base + schedule_offset_s(t_ns, first_ns, self.config.rate)
                self._sleep_until(target, base, first_ns)
                stats.max_lateness_s = max(stats.max_lateness_s, time.monotonic() - target)
                self._publish_clock(t_ns)
                self.publishers[topic].publish(bytes(raw))
                stats.published[topic] += 1
                if bar is not None:
                    bar.update(1)
                if after_publish is not None:
                    t_hook = time.monotonic()
                    after_publish(topic, t_ns, raw)
                    base += time.monotonic() - t_hook  # the schedule (and /clock) stands still meanwhile


def play_bag(config: ReplayConfig, node=None, progress: bool = True) -> ReplayStats:
    """Play ``config.bag``; creates (and destroys) its own node and rclpy context when ``node`` is None."""
    if node is not None:
        return BagPlayer(node, config).play(progress=progress)
    import rclpy

    rclpy.init()
    try:
        own = rclpy.create_node("geodistill_replay")
        try:
            return BagPlayer(own, config).play(progress=progress)
        finally:
            own.destroy_node()
    finally:
        rclpy.try_shutdown()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", type=Path, help="rosbag2 folder (MCAP or sqlite3) or a bare .mcap/.db3 file")
    parser.add_argument("--rate", type=float, default=1.0, help="playback speed factor (default 1)")
    parser.add_argument("--clock", type=float, nargs="?", const=40.0, default=0.0, metavar="HZ",
                        help="publish /clock at the bag's time (default 40 Hz when given without a value)")
    parser.add_argument("--topics", nargs="+", default=None, help="play only these topics")
    parser.add_argument("--loop", action="store_true", help="play the bag again and again until interrupted")
    parser.add_argument("--wait-s", type=float, default=10.0,
                        help="seconds to wait for subscribers before the first message (default 10)")
    parser.add_argument("--wait-topics", nargs="+", default=None,
                        help="topics that must have a subscriber before playing (default: all played topics)")
    parser.add_argument("--publish-last", nargs="+", default=[], metavar="TOPIC",
                        help="among messages recorded at the same time, publish these last (e.g. the camera)")
    parser.add_argument("--delay", type=float, default=0.25,
                        help="seconds to pause after matching, before the first message (default 0.25)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = ReplayConfig(bag=args.bag, rate=args.rate, clock_hz=args.clock, topics=args.topics,
                              loops=0 if args.loop else 1, wait_s=args.wait_s, wait_topics=args.wait_topics,
                              start_delay_s=args.delay, publish_last=args.publish_last)
        stats = play_bag(config, progress=not args.quiet)
    except (bagio.BagError, ValueError) as exc:
        LOG.error("%s", exc)
        return 2
    print(f"replayed {stats.total} messages on {len(stats.published)} topics in {stats.wall_s:.2f} s "
          f"(worst lateness {stats.max_lateness_s * 1e3:.1f} ms)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="geodistill replay", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
