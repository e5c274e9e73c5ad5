"""Which alerts open and close (control_api.core.alerts), and the webhook rules
(control_api.core.webhooks): URLs, signatures, the retry schedule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from control_api.core import webhooks as hooks
from control_api.core.alerts import (
    AlertKind,
    EventType,
    Presence,
    Thresholds,
    Transition,
    tracked_kinds,
    transitions,
)
from control_api.core.device_health import Telemetry

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
ALL_EVENTS = [e.value for e in EventType]
ALL = tracked_kinds(ALL_EVENTS)
LIMITS = Thresholds(offline_after_s=600, sync_failures=3)


def run(
    open_kinds: set[AlertKind],
    presence: Presence,
    telemetry: Telemetry | None,
    now: datetime = NOW,
) -> list[Transition]:
    return transitions(
        open_kinds, ALL, presence=presence, telemetry=telemetry, thresholds=LIMITS, now=now
    )


def online() -> Presence:
    return Presence(online=True, silent_since=NOW)


def test_offline_opens_only_after_the_threshold_and_online_closes_it() -> None:
    silent_10 = Presence(online=False, silent_since=NOW - timedelta(seconds=599))
    assert run(set(), silent_10, None) == []
    silent = Presence(online=False, silent_since=NOW - timedelta(seconds=600))
    [opened] = run(set(), silent, None)
    assert (opened.kind, opened.opened, opened.event) == (
        AlertKind.OFFLINE,
        True,
        EventType.OFFLINE,
    )
    assert opened.data == {"last_seen_at": "2026-12-03T11:50:00Z"}
    assert run({AlertKind.OFFLINE}, silent, None) == []  # still offline: nothing again
    [back] = run({AlertKind.OFFLINE}, online(), None)
    assert (back.opened, back.event) == (False, EventType.ONLINE)


def test_a_device_never_seen_never_goes_offline() -> None:
    assert run(set(), Presence(online=False, silent_since=None), None) == []


def test_storage_full_playback_and_sync_open_once_and_close_silently() -> None:
    bad = Telemetry(storage_full=True, playing_state="silence", sync_failures=3)
    found = run(set(), online(), bad)
    assert {(t.kind, t.event) for t in found} == {
        (AlertKind.STORAGE_FULL, EventType.STORAGE_FULL),
        (AlertKind.PLAYBACK_STOPPED, EventType.PLAYBACK_STOPPED),
        (AlertKind.SYNC_FAILING, EventType.SYNC_FAILING),
    }
    opened = {t.kind for t in found}
    assert run(opened, online(), bad) == []
    good = Telemetry(storage_full=False, playing_state="playing", sync_failures=0)
    closed = run(opened, online(), good)
    assert {(t.kind, t.opened, t.event) for t in closed} == {(kind, False, None) for kind in opened}


def test_below_the_sync_threshold_nothing_opens() -> None:
    assert run(set(), online(), Telemetry(sync_failures=2, last_sync_error="x")) == []


def test_a_report_that_says_nothing_of_a_kind_changes_nothing() -> None:
    opened = {AlertKind.STORAGE_FULL, AlertKind.PLAYBACK_STOPPED, AlertKind.SYNC_FAILING}
    assert run(opened, online(), Telemetry(last_sync_error="still failing")) == []


def test_a_player_without_the_count_closes_sync_failing_on_success() -> None:
    [closed] = run({AlertKind.SYNC_FAILING}, online(), Telemetry(last_sync_error=None))
    assert closed.kind == AlertKind.SYNC_FAILING and not closed.opened


def test_only_the_subscribed_kinds_are_tracked() -> None:
    assert tracked_kinds(["device.online"]) == {AlertKind.OFFLINE}
    assert tracked_kinds(["device.storage_full"]) == {AlertKind.STORAGE_FULL}
    found = transitions(
        set(),
        {AlertKind.STORAGE_FULL},
        presence=Presence(online=False, silent_since=NOW - timedelta(days=1)),
        telemetry=Telemetry(storage_full=True, playing_state="stopped"),
        thresholds=LIMITS,
        now=NOW,
    )
    assert [t.kind for t in found] == [AlertKind.STORAGE_FULL]


@dataclass(frozen=True)
class Step:
    online: bool
    silent_s: int
    telemetry: Telemetry | None


steps = st.builds(
    Step,
    online=st.booleans(),
    silent_s=st.integers(0, 3000),
    telemetry=st.none()
    | st.builds(
        Telemetry,
        storage_full=st.none() | st.booleans(),
        playing_state=st.sampled_from([None, "playing", "stopped", "no_audio", "silence"]),
        sync_failures=st.none() | st.integers(0, 6),
        last_sync_error=st.none() | st.just("ApiError: down"),
    ),
)


@given(st.lists(steps, max_size=40))
def test_no_kind_ever_opens_twice_without_a_close_between(sequence: list[Step]) -> None:
    open_kinds: set[AlertKind] = set()
    now = NOW
    for step in sequence:
        now += timedelta(seconds=30)
        presence = Presence(step.online, now - timedelta(seconds=step.silent_s))
        for t in run(open_kinds, presence, step.telemetry, now):
            if t.opened:
                assert t.kind not in open_kinds
                open_kinds.add(t.kind)
            else:
                assert t.kind in open_kinds
                open_kinds.remove(t.kind)
            assert (t.event is EventType.ONLINE) == (t.kind is AlertKind.OFFLINE and not t.opened)


@pytest.mark.parametrize(
    ("url", "allow_http", "ok"),
    [
        ("https://hooks.example/lomuz", False, True),
        ("https://hooks.example:8443/a?b=c", False, True),
        ("http://127.0.0.1:9000/hook", False, False),
        ("http://127.0.0.1:9000/hook", True, True),
        ("ftp://hooks.example/", True, False),
        ("https:///no-host", False, False),
        ("https://user:pw@hooks.example/", False, False),
        ("https://hooks.example/a b", False, False),
        ("https://hooks.example:99999/", False, False),
        ("https://hooks.example/" + "a" * 2000, False, False),
        ("https://xn--bcher-kva.example/hook", False, True),  # punycode
        ("https://[::1]:8443/hook", False, True),
        ("https://b\u00fccher.example/", False, False),  # Unicode: give its punycode
        ("https://a\u200d.com/h", False, False),  # a zero-width joiner
        ("https://exa\u00admple.com/", False, False),  # a soft hyphen
        ("https://-bad-.example/", False, False),
    ],
)
def test_webhook_urls(url: str, allow_http: bool, ok: bool) -> None:
    assert (hooks.url_problem(url, allow_http=allow_http) is None) == ok


def test_an_http_url_is_refused_with_a_clear_reason() -> None:
    problem = hooks.url_problem("http://hooks.example/", allow_http=False)
    assert problem is not None and "https://" in problem and "LOMUZ_WEBHOOKS_ALLOW_HTTP" in problem


def test_the_signature_verifies_with_the_secret_only_and_only_when_fresh() -> None:
    secret = hooks.new_secret()
    assert len(secret) == 43
    body = b'{"id":"evt_1"}'
    header = hooks.signature(secret, 1_800_000_000, body)
    assert header.startswith("t=1800000000,v1=")
    assert hooks.verify(secret, header, body, now_unix=1_800_000_010)
    assert not hooks.verify(hooks.new_secret(), header, body, now_unix=1_800_000_010)
    assert not hooks.verify(secret, header, body + b" ", now_unix=1_800_000_010)
    assert not hooks.verify(secret, header, body, now_unix=1_800_001_000)  # a replay


def test_retries_back_off_from_30_s_to_1_h_and_give_up() -> None:
    assert hooks.retry_pause_s(1, 0.0) == 30
    assert hooks.retry_pause_s(2, 0.0) == 60
    assert hooks.retry_pause_s(10, 0.0) == 3600
    assert 24 <= hooks.retry_pause_s(1, -1.0) <= hooks.retry_pause_s(1, 1.0) <= 36
    assert hooks.next_attempt_at(1, NOW, NOW, 0.0) == NOW + timedelta(seconds=30)
    assert hooks.next_attempt_at(hooks.MAX_ATTEMPTS, NOW, NOW, 0.0) is None
    late = NOW + timedelta(hours=23, minutes=59)
    assert hooks.next_attempt_at(3, NOW, late, 0.0) is None
