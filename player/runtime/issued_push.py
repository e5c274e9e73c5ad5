"""The push link with a broker account the API issues (``[push] url = "issued"``, issue 13).

Implements ``player.ports.PushLink``. Its one thread gets the account — the
stored one (``broker-login.json``), else asks the API (``POST
/v1/device/push-credentials``) and stores the answer — then builds and starts
the real link with it. A CONNACK refusing the account (rotated elsewhere,
the device decommissioned and re-enrolled, the broker's state lost) drops the
stored account and asks again. Asking is bounded: at most once per
``min_ask_gap_s`` whatever the answers (503 from a server that issues none,
the API down, a broker that refuses every account), so a box never hammers
the API or the broker; polling goes on all the while. ``start`` returns at
once; ``stop`` waits for the thread (bounded).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from lomuz_rules.push import BrokerAddress, parse_broker_url
from player.core.push import BrokerLogin
from player.errors import PlayerError
from player.ports import PushLink

log = logging.getLogger(__name__)

MIN_ASK_GAP_S = 600.0
STOP_WAIT_S = 5.0

MakeLink = Callable[[BrokerAddress, Callable[[], None]], PushLink]


class IssuedPushLink:
    """A push link whose broker account comes from the API; thread-safe."""

    def __init__(
        self,
        *,
        ask: Callable[[], BrokerLogin],
        load: Callable[[], BrokerLogin | None],
        save: Callable[[BrokerLogin], None],
        forget: Callable[[], None],
        make_link: MakeLink,
        monotonic: Callable[[], float],
        min_ask_gap_s: float = MIN_ASK_GAP_S,
    ) -> None:
        self._ask, self._load, self._save, self._forget = ask, load, save, forget
        self._make_link = make_link
        self._monotonic = monotonic
        self._min_ask_gap_s = min_ask_gap_s
        self._cond = threading.Condition()
        self._link: PushLink | None = None
        self._refused = False
        self._stopping = False
        self._last_ask_at: float | None = None
        self._thread: threading.Thread | None = None
        self.asked = 0  # how many times the API was asked (status, tests)

    @property
    def connected(self) -> bool:
        with self._cond:
            link = self._link
        return link is not None and link.connected

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="lomuz-issued-push", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(STOP_WAIT_S)
        with self._cond:
            link, self._link = self._link, None
        if link is not None:
            link.stop()

    def _on_refused(self) -> None:
        """The broker refused the account (paho's thread): only flag it."""
        with self._cond:
            self._refused = True
            self._cond.notify_all()

    def _run(self) -> None:
        try:
            self._serve()
        except Exception:  # loop boundary: push is only a hint, polling goes on
            log.exception("push: the issued-account link stopped")

    def _serve(self) -> None:
        login = self._load()
        while True:
            if login is None:
                login = self._ask_bounded()
                if login is None:
                    return  # stopping
            link = self._make_link(self._address(login), self._on_refused)
            with self._cond:
                if self._stopping:
                    return
                self._link = link
            link.start()
            with self._cond:
                self._cond.wait_for(lambda: self._refused or self._stopping)
                if self._stopping:
                    return
                self._refused = False
                self._link = None
            link.stop()
            log.warning("push: the broker refused this device's account: asking for a new one")
            try:
                self._forget()
            except OSError as exc:  # a read-only data dir: the new account overwrites it
                log.warning("push: cannot remove the refused broker account: %s", exc)
            login = None

    def _address(self, login: BrokerLogin) -> BrokerAddress:
        return parse_broker_url(login.url).with_credentials(login.username, login.password)

    def _ask_bounded(self) -> BrokerLogin | None:
        """A new account from the API, asking at most once per gap; None when stopping."""
        while True:
            with self._cond:
                if self._last_ask_at is not None:
                    wait_s = self._last_ask_at + self._min_ask_gap_s - self._monotonic()
                    self._cond.wait_for(lambda: self._stopping, timeout=max(0.0, wait_s))
                if self._stopping:
                    return None
                self._last_ask_at = self._monotonic()
                self.asked += 1
            try:
                login = self._ask()
                parse_broker_url(login.url)
            except (PlayerError, ValueError, KeyError, TypeError) as exc:  # any answer: wait
                log.warning(
                    "push: no broker account from the API (%s): polling; asking again in %d s",
                    exc,
                    self._min_ask_gap_s,
                )
                continue
            try:
                self._save(login)
            except OSError as exc:  # a full disk: use it now, ask again after a restart
                log.warning("push: cannot store the broker account (%s)", exc)
            log.info("push: the API issued this device's broker account (%s)", login.username)
            return login
