"""Small helpers around the ``rosbags`` library shared by replay, recording, evaluation and the sim's writer.

- :func:`typestore`: the ROS 2 Jazzy message types (cached), for (de)serializing CDR without ROS.
- :func:`open_reader`: open a rosbag2 (a bag folder, or a bare ``.mcap`` / ``.db3`` file) for reading.
- :func:`open_writer`: write a rosbag2 folder, storage format version 8, MCAP (default) or sqlite3.
- :func:`iter_messages`: ``(topic, msgtype, log_time_ns, raw_cdr)`` in recorded order, optionally filtered.
- :func:`order_equal_times`: the same, with chosen topics last among messages recorded at one instant.
- :func:`message_class`: the rclpy message class for a type name (imported lazily: this module needs no ROS).
- :func:`header_stamp_ns`: a message's ``header.stamp`` read straight from its CDR bytes.

Nothing here imports rclpy at import time, so offline tools (``geodistill eval-bag``) run without ROS.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import shutil
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rosbags.rosbag2 import Reader, ReaderError, StoragePlugin, Writer, WriterError
from rosbags.typesys import Stores, get_typestore

BAG_VERSION = 8
STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}


class BagError(RuntimeError):
    """A bag that cannot be opened, read or written (missing, malformed, unsupported)."""


@functools.lru_cache(maxsize=1)
def typestore():
    """The ROS 2 Jazzy typestore (message classes under ``typestore().types[msgtype]``)."""
    return get_typestore(Stores.ROS2_JAZZY)


def normalize_msgtype(msgtype: str) -> str:
    """``"sensor_msgs/Image"`` or ``"sensor_msgs/msg/Image"`` -> ``"sensor_msgs/msg/Image"``."""
    parts = msgtype.strip().split("/")
    if len(parts) == 2:
        parts = [parts[0], "msg", parts[1]]
    if len(parts) != 3 or not all(parts):
        raise BagError(f"not a ROS 2 message type name: {msgtype!r} (expected 'package/msg/Name')")
    return "/".join(parts)


def message_class(msgtype: str) -> type:
    """The rclpy (rosidl-generated) class of ``msgtype``, e.g. ``sensor_msgs.msg.Image``."""
    package, kind, name = normalize_msgtype(msgtype).split("/")
    try:
        module = importlib.import_module(f"{package}.{kind}")
        return getattr(module, name)
    except (ImportError, AttributeError) as exc:
        raise BagError(f"message type {msgtype!r} is not available in this ROS 2 environment: {exc}") from exc


def deserialize(raw: bytes | memoryview, msgtype: str):
    """CDR bytes -> a rosbags message object (plain dataclass, numpy arrays for byte sequences)."""
    return typestore().deserialize_cdr(raw, normalize_msgtype(msgtype))


def serialize(msg, msgtype: str | None = None) -> bytes:
    """A rosbags message object -> CDR bytes (with the 4-byte encapsulation header)."""
    return bytes(typestore().serialize_cdr(msg, normalize_msgtype(msgtype or msg.__msgtype__)))


def header_stamp_ns(raw: bytes | memoryview) -> int:
    """``header.stamp`` in ns of a CDR message whose first field is a ``std_msgs/Header``.

    Reads only the first 8 bytes after the encapsulation header, so it costs nothing for large images.
    """
    if len(raw) < 12:
        raise BagError(f"message too short ({len(raw)} bytes) to hold a header")
    little = raw[1] in (0x01, 0x03)  # encapsulation kind: CDR_LE / PL_CDR_LE
    sec, nanosec = struct.unpack_from("<iI" if little else ">iI", raw, 4)
    return sec * 1_000_000_000 + nanosec


def time_msg(stamp_ns: int):
    """``builtin_interfaces/Time`` (rosbags) for a stamp in ns."""
    return typestore().types["builtin_interfaces/msg/Time"](
        sec=int(stamp_ns // 1_000_000_000), nanosec=int(stamp_ns % 1_000_000_000)
    )


def stamp_to_ns(stamp) -> int:
    """A ``builtin_interfaces/Time`` (rosbags or rclpy) -> ns."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


@contextlib.contextmanager
def open_reader(path: str | Path) -> Iterator[Reader]:
    """Open a rosbag2 for reading: a bag folder (``metadata.yaml``), or a bare ``.mcap`` / ``.db3`` file."""
    path = Path(path)
    if not path.exists():
        raise BagError(f"bag not found: {path}")
    try:
        reader = Reader(path)
        reader.open()
    except (ReaderError, FileNotFoundError, ValueError, KeyError) as exc:
        raise BagError(f"cannot open bag {path}: {exc}") from exc
    try:
        yield reader
    finally:
        reader.close()


@contextlib.contextmanager
def open_writer(path: str | Path, storage: str = "mcap", overwrite: bool = False) -> Iterator[Writer]:
    """Write a rosbag2 folder at ``path`` (format version 8). ``storage``: ``"mcap"`` or ``"sqlite3"``."""
    path = Path(path)
    if storage not in STORAGES:
        raise BagError(f"unknown storage {storage!r}; choose one of {sorted(STORAGES)}")
    if path.exists():
        if not overwrite:
            raise BagError(f"bag already exists: {path}")
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        writer = Writer(path, version=BAG_VERSION, storage_plugin=STORAGES[storage])
        writer.open()
    except WriterError as exc:
        raise BagError(f"cannot write bag {path}: {exc}") from exc
    try:
        yield writer
    finally:
        writer.close()


@dataclass(frozen=True)
class TopicSummary:
    topic: str
    msgtype: str
    count: int


def topics(reader: Reader) -> dict[str, TopicSummary]:
    """Topic name -> type and message count."""
    out: dict[str, TopicSummary] = {}
    for conn in reader.connections:
        prev = out.get(conn.topic)
        out[conn.topic] = TopicSummary(conn.topic, conn.msgtype, conn.msgcount + (prev.count if prev else 0))
    return out


def iter_messages(reader: Reader, topic_names: Iterable[str] | None = None) -> Iterator[tuple[str, str, int, bytes]]:
    """``(topic, msgtype, log_time_ns, raw)`` in recorded (log time) order (file by file for split bags).

    ``topic_names``: keep only these topics (all when ``None``); unknown names raise :class:`BagError`.
    """
    conns = list(reader.connections)
    if topic_names is not None:
        wanted = set(topic_names)
        missing = wanted - {c.topic for c in conns}
        if missing:
            raise BagError(f"topics not in bag: {sorted(missing)}; bag has {sorted({c.topic for c in conns})}")
        conns = [c for c in conns if c.topic in wanted]
    if not conns:
        return
    for conn, t, raw in reader.messages(connections=conns):
        yield conn.topic, conn.msgtype, t, raw


def order_equal_times(messages, last_topics: Iterable[str] = ()):
    """:func:`iter_messages` tuples in recorded order, except that among messages recorded at the same instant
    those on ``last_topics`` come after the others (a camera frame after the GPS fix taken with it)."""
    if not last_topics:
        yield from messages
        return
    last = set(last_topics)
    group: list[tuple[str, str, int, bytes]] = []
    for message in messages:
        if group and message[2] != group[0][2]:
            yield from sorted(group, key=lambda m: m[0] in last)  # stable: recorded order otherwise
            group = []
        group.append(message)
    yield from sorted(group, key=lambda m: m[0] in last)
