"""Record the localizer's outputs (``pose``, ``fix``, ``/diagnostics``; any topics) into an MCAP rosbag2.

A :class:`Recorder` lives on an rclpy node the caller spins. It watches the ROS graph and subscribes to
each wanted topic as soon as a publisher appears (type from the graph, QoS adapted to the publishers like
``ros2 bag record``), with ``raw=True`` subscriptions, so the serialized messages go to the bag untouched.
Log time = receive time on the node's clock.

For latency, ``arrival_topics`` (e.g. the camera topic) are not stored; instead the header stamp of each
arriving message is written as a ``std_msgs/Header`` on ``/recorder/arrival<topic>`` (log time = arrival),
so an evaluation can pair every output with the arrival of the frame it came from.

Standalone: ``python -m geodistill_ros.recorder --out BAG [--topics ...] [--namespace NS] [--duration S]``.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

from geodistill_ros import bagio

LOG = logging.getLogger("geodistill.recorder")

DEFAULT_TOPICS = ("pose", "fix", "/diagnostics")
ARRIVAL_PREFIX = "/recorder/arrival"
HEADER_TYPE = "std_msgs/msg/Header"


def arrival_topic(topic: str) -> str:
    """Bag topic holding the arrival times of ``topic``: ``/camera/x`` -> ``/recorder/arrival/camera/x``."""
    return ARRIVAL_PREFIX + (topic if topic.startswith("/") else "/" + topic)


@dataclass
class RecorderConfig:
    out: Path
    topics: Sequence[str] = DEFAULT_TOPICS  # relative names resolve in the recorder node's namespace
    arrival_topics: Sequence[str] = ()
    storage: str = "mcap"
    overwrite: bool = False

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        if not self.topics and not self.arrival_topics:
            raise ValueError("nothing to record: give at least one topic")


@dataclass
class _Slot:
    topic: str  # fully resolved
    msgtype: str | None = None
    subscription: object = None
    connection: object = None


@dataclass
class RecorderStats:
    counts: Counter = field(default_factory=Counter)
    subscribed: dict[str, str] = field(default_factory=dict)  # topic -> type


def qos_to_rosbags(profile) -> Qos:
    """An rclpy ``QoSProfile`` -> the ``rosbags`` Qos stored in bag metadata (the enum values coincide)."""

    def t(duration) -> QosTime:
        ns = int(duration.nanoseconds)
        if ns <= 0 or ns >= 2**63 - 1:
            return QosTime(0, 0)
        sec, nsec = divmod(ns, 1_000_000_000)
        return QosTime(min(sec, 2**31 - 1), nsec)

    return Qos(QosHistory(int(profile.history)), int(profile.depth), QosReliability(int(profile.reliability)),
               QosDurability(int(profile.durability)), t(profile.deadline), t(profile.lifespan),
               QosLiveliness(int(profile.liveliness)), t(profile.liveliness_lease_duration),
               bool(profile.avoid_ros_namespace_conventions))


def subscription_qos(publisher_profiles: Sequence):
    """A subscription QoS every discovered publisher matches: reliable only if all publishers are reliable,
    transient-local only if all are (so latched messages are received)."""
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    reliable = bool(publisher_profiles) and all(p.reliability == ReliabilityPolicy.RELIABLE for p in publisher_profiles)
    latched = bool(publisher_profiles) and all(
        p.durability == DurabilityPolicy.TRANSIENT_LOCAL for p in publisher_profiles)
    return QoSProfile(depth=100,
                      reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)


class Recorder:
    """Subscribes (on discovery) and writes raw messages to an MCAP bag until :meth:`stop`."""

    def __init__(self, node, config: RecorderConfig, discovery_period_s: float = 0.05):
        self.node = node
        self.config = config
        self.stats = RecorderStats()
        self._lock = threading.Lock()
        self._slots = {t: _Slot(node.resolve_topic_name(t)) for t in config.topics}
        self._arrivals = {t: _Slot(node.resolve_topic_name(t)) for t in config.arrival_topics}
        self._writer_cm = bagio.open_writer(config.out, storage=config.storage, overwrite=config.overwrite)
        self._writer = self._writer_cm.__enter__()
        self._closed = False
        self._header_cls = bagio.typestore().types[HEADER_TYPE]
        self._timer = node.create_timer(discovery_period_s, self._discover)
        self._discover()

    # -- discovery --------------------------------------------------------------------------------------
    @property
    def pending(self) -> list[str]:
        """Wanted topics not yet subscribed (no publisher seen so far)."""
        return sorted(s.topic for s in [*self._slots.values(), *self._arrivals.values()] if s.subscription is None)

    def matched(self) -> bool:
        """Every wanted topic (but those that cannot be recorded) is subscribed and matched a publisher."""
        slots = [s for s in [*self._slots.values(), *self._arrivals.values()] if s.subscription is not False]
        return all(s.subscription is not None and s.subscription.get_publisher_count() > 0 for s in slots)

    def wait_until_matched(self, timeout_s: float, spin=None) -> bool:
        """Block until :meth:`matched` (``spin``: a callable spinning the node once, when nobody else does)."""
        deadline = time.monotonic() + timeout_s
        while not self.matched() and time.monotonic() < deadline:
            if spin is not None:
                spin()
            else:
                time.sleep(0.02)
        return self.matched()

    def _discover(self) -> None:
        if self._closed:
            return
        if not self.pending:
            self._timer.cancel()
            return
        graph = dict(self.node.get_topic_names_and_types())
        for slot in self._slots.values():
            if slot.subscription is None and graph.get(slot.topic):
                self._subscribe(slot, graph[slot.topic][0], arrival=False)
        for slot in self._arrivals.values():
            if slot.subscription is None and graph.get(slot.topic):
                self._subscribe(slot, graph[slot.topic][0], arrival=True)

    def _subscribe(self, slot: _Slot, msgtype: str, arrival: bool) -> None:
        from rclpy.qos import qos_profile_sensor_data

        infos = self.node.get_publishers_info_by_topic(slot.topic)
        if not infos:
            return  # the graph lists the topic, the endpoint is not discovered yet: try again next tick
        profiles = [i.qos_profile for i in infos]
        try:
            cls = bagio.message_class(msgtype)
            with self._lock:
                if arrival:
                    slot.connection = self._writer.add_connection(arrival_topic(slot.topic), HEADER_TYPE,
                                                                  typestore=bagio.typestore())
                else:
                    slot.connection = self._writer.add_connection(
                        slot.topic, msgtype, typestore=bagio.typestore(),
                        offered_qos_profiles=[qos_to_rosbags(p) for p in profiles])
        except (bagio.BagError, KeyError) as exc:
            LOG.error("cannot record %s (%s): %s", slot.topic, msgtype, exc)
            slot.subscription = False  # give up on this topic, stop retrying
            return
        qos = qos_profile_sensor_data if arrival else subscription_qos(profiles)
        handler = self._on_arrival if arrival else self._on_msg

        def callback(raw, s=slot):
            handler(s, raw)

        slot.msgtype = msgtype
        slot.subscription = self.node.create_subscription(cls, slot.topic, callback, qos, raw=True)
        self.stats.subscribed[slot.topic] = msgtype
        LOG.info("recording %s [%s]%s", slot.topic, msgtype, " (arrival times)" if arrival else "")

    # -- writing ----------------------------------------------------------------------------------------
    def _now_ns(self) -> int:
        return self.node.get_clock().now().nanoseconds

    def _on_msg(self, slot: _Slot, raw: bytes) -> None:
        t = self._now_ns()
        with self._lock:
            if self._closed:
                return
            self._writer.write(slot.connection, t, raw)
            self.stats.counts[slot.topic] += 1

    def _on_arrival(self, slot: _Slot, raw: bytes) -> None:
        t = self._now_ns()
        try:
            stamp = bagio.header_stamp_ns(raw)
        except bagio.BagError:
            return
        header = self._header_cls(stamp=bagio.time_msg(stamp), frame_id="")
        data = bagio.serialize(header, HEADER_TYPE)
        with self._lock:
            if self._closed:
                return
            self._writer.write(slot.connection, t, data)
            self.stats.counts[arrival_topic(slot.topic)] += 1

    def stop(self) -> RecorderStats:
        """Unsubscribe and close the bag (idempotent)."""
        with self._lock:
            if self._closed:
                return self.stats
            self._closed = True
        if self._timer is not None:
            self.node.destroy_timer(self._timer)
            self._timer = None
        for slot in [*self._slots.values(), *self._arrivals.values()]:
            if slot.subscription:
                self.node.destroy_subscription(slot.subscription)
        with self._lock:
            self._writer_cm.__exit__(None, None, None)
        return self.stats


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="output bag folder (MCAP)")
    parser.add_argument("--topics", nargs="+", default=list(DEFAULT_TOPICS),
                        help=f"topics to record (default: {' '.join(DEFAULT_TOPICS)})")
    parser.add_argument("--namespace", default="/", help="namespace relative topic names resolve in")
    parser.add_argument("--arrival-topics", nargs="*", default=[],
                        help="input topics whose arrival times to record (for latency)")
    parser.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0: Ctrl-C)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing bag")


def run(args: argparse.Namespace) -> int:
    import rclpy

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    rclpy.init()
    node = rclpy.create_node("geodistill_recorder", namespace=args.namespace)
    try:
        recorder = Recorder(node, RecorderConfig(out=args.out, topics=args.topics, arrival_topics=args.arrival_topics,
                                                 overwrite=args.overwrite))
    except (bagio.BagError, ValueError) as exc:
        LOG.error("%s", exc)
        node.destroy_node()
        rclpy.try_shutdown()
        return 2
    deadline = time.monotonic() + args.duration if args.duration > 0 else None
    try:
        while rclpy.ok() and (deadline is None or time.monotonic() < deadline):
            rclpy.spin_once(node, timeout_sec=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        stats = recorder.stop()
        node.destroy_node()
        rclpy.try_shutdown()
    print(f"recorded {sum(stats.counts.values())} messages to {args.out}: {dict(stats.counts)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m geodistill_ros.recorder", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
