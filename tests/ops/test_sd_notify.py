"""sd_notify against real AF_UNIX datagram sockets, as systemd would listen."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from player.adapters.sd_notify import SdNotifier


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = tmp_path / "notify"
    assert len(str(path)) < 100, "AF_UNIX paths are limited to 108 bytes"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2)
    with sock:
        yield sock, str(path)


def receive(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def test_ready_status_watchdog_stopping_arrive_in_order(
    listener: tuple[socket.socket, str],
) -> None:
    sock, path = listener
    notifier = SdNotifier.from_environ({"NOTIFY_SOCKET": path})

    assert notifier.enabled
    assert notifier.ready()
    assert notifier.status("playing jingle\nsecond line")
    assert notifier.watchdog()
    assert notifier.stopping()

    assert receive(sock) == "READY=1"
    assert receive(sock) == "STATUS=playing jingle second line"
    assert receive(sock) == "WATCHDOG=1"
    assert receive(sock) == "STOPPING=1"


def test_abstract_namespace_socket() -> None:
    name = f"lomuz-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(2)
        notifier = SdNotifier.from_environ({"NOTIFY_SOCKET": "@" + name})
        assert notifier.ready()
        assert receive(sock) == "READY=1"


def test_without_notify_socket_everything_is_a_no_op() -> None:
    notifier = SdNotifier.from_environ({})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog() is False
    assert notifier.watchdog_interval_s() is None


def test_a_vanished_socket_does_not_raise_and_recovers(tmp_path: Path) -> None:
    path = tmp_path / "gone"
    notifier = SdNotifier.from_environ({"NOTIFY_SOCKET": str(path)})
    assert notifier.watchdog() is False
    assert notifier.watchdog() is False

    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(2)
        assert notifier.watchdog() is True
        assert receive(sock) == "WATCHDOG=1"


@pytest.mark.parametrize(
    ("environ", "expected_s"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "me"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_follows_sd_watchdog_enabled(
    environ: dict[str, str], expected_s: float | None
) -> None:
    assert SdNotifier.from_environ(environ).watchdog_interval_s() == expected_s


def test_watchdog_pid_is_compared_with_the_given_pid() -> None:
    environ = {"WATCHDOG_USEC": "5000000", "WATCHDOG_PID": "4242"}
    assert SdNotifier.from_environ(environ, pid=4242).watchdog_interval_s() == 5.0


def test_heartbeat_pings_every_time_and_sends_status_only_when_it_changed(
    listener: tuple[socket.socket, str],
) -> None:
    sock, path = listener
    notifier = SdNotifier.from_environ({"NOTIFY_SOCKET": path})

    notifier.heartbeat("playing music a1")
    notifier.heartbeat("playing music a1")
    notifier.heartbeat("silence")

    sent = [receive(sock) for _ in range(5)]
    assert sent == [
        "WATCHDOG=1",
        "STATUS=playing music a1",
        "WATCHDOG=1",
        "WATCHDOG=1",
        "STATUS=silence",
    ]


@pytest.mark.parametrize(
    ("environ", "expected_s"),
    [
        ({"WATCHDOG_USEC": "60000000"}, 10.0),  # at most every 10 s
        ({"WATCHDOG_USEC": "15000000"}, 5.0),  # a third of the watchdog
        ({}, 10.0),  # no watchdog: the loop's own beat
    ],
)
def test_heartbeat_interval_is_a_third_of_the_watchdog_at_most_10_s(
    environ: dict[str, str], expected_s: float
) -> None:
    assert SdNotifier.from_environ(environ).heartbeat_interval_s() == expected_s
