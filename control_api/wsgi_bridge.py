"""The WSGI app served by an ASGI server, with a deadline on request bodies.

granian's WSGI interface reads bodies inside Rust with no timeout, so a client
trickling a body holds a Python thread for as long as it likes (issue 10,
emmett-framework/granian#728). Under ``granian --interface asgi`` the body is
read here on the event loop instead, where a read can be bounded
(:class:`~control_api.core.body_deadline.BodyReadPolicy`):

- A body up to ``buffer_bytes`` (the JSON limit) is read whole on the loop
  before a thread is taken, so slow clients hold sockets, never threads.
  What all requests of a worker hold buffered at once stays within
  ``buffer_budget_bytes``: a request reserves room for what it will buffer
  before reading, or waits on the loop for room under its deadline. One
  that misses its deadline still reaches the app, whose read of the missing
  part raises :class:`~control_api.http_errors.RequestTimeout`: a 408
  ``body_timeout`` rendered like every other error, and the connection closed.
- A larger body (an upload) goes to the app as it arrives; each chunk is
  fetched from the loop under the same deadline.
- The app runs in a thread pool and its response is gathered in that thread
  (the first ``batch_bytes``), so a request crosses threads once each way.
  a2wsgi, the general-purpose bridge, crosses four times (status, each body
  part, its end) and cost the cached 304 poll 1.3-2.5x the server CPU
  (docs/BENCHMARKS.md); longer responses are pulled in batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any, cast

from control_api.core.body_deadline import BodyReadPolicy
from control_api.http_errors import RequestTimeout

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
StartResponse = Callable[..., Callable[[bytes], object]]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

# A thread waiting for the next body chunk gives up this long after the
# deadline: the loop did not answer (the worker is stopping).
_LOOP_ANSWER_MARGIN_S = 5.0


def _resolve(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class _Workers:
    """Threads that run calls for the event loop.

    ``loop.run_in_executor`` would do, at about twice the cost: a
    concurrent.futures Future chained to an asyncio one. Here a call is one
    ``SimpleQueue.put`` and its result one ``call_soon_threadsafe``. Threads
    start on demand, up to ``count``.
    """

    def __init__(self, count: int, name: str) -> None:
        self._count = count
        self._name = name
        self._calls: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def run(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._calls.put((loop, future, fn, args))
        if not self._idle.acquire(blocking=False):
            self._start_one()
        return future

    def _start_one(self) -> None:
        with self._lock:
            if len(self._threads) >= self._count:
                return
            thread = threading.Thread(
                target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _work(self) -> None:
        while (call := self._calls.get()) is not None:
            loop, future, fn, args = call
            try:
                outcome: tuple[Any, BaseException | None] = (fn(*args), None)
            except BaseException as exc:  # handed to the awaiting coroutine
                outcome = (None, exc)
            # A closed loop (the worker is stopping) awaits no answer.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, future, *outcome)
            self._idle.release()

    def stop(self) -> None:
        with self._lock:
            threads, self._threads = self._threads, []
        for _ in threads:
            self._calls.put(None)
        for thread in threads:
            thread.join()


@dataclass
class _Response:
    status: int
    headers: list[tuple[bytes, bytes]]
    chunks: list[bytes]
    # Set when the body is longer than one batch: the rest is pulled from it.
    rest: Iterator[bytes] | None
    iterable: Iterable[bytes]


class _BodyReader:
    """The request body as the loop reads it under the deadline."""

    def __init__(
        self,
        receive: Receive,
        policy: BodyReadPolicy,
        headers_done_at: float,
        clock: Callable[[], float],
    ) -> None:
        self._receive = receive
        self._policy = policy
        self._headers_done_at = headers_done_at
        self._clock = clock
        self.received_bytes = 0
        self.complete = False
        self.timed_out = False
        self.disconnected = False

    def seconds_left(self) -> float:
        return self._policy.deadline_at(self._headers_done_at, self.received_bytes) - self._clock()

    async def next_chunk(self) -> bytes:
        """The next part of the body; b"" at its end, when the client left, or past the deadline.

        A receive pending at the deadline is cancelled: that is what lets
        granian close the connection after the 408 (left pending, it keeps
        the connection open waiting for the body; measured, BENCHMARKS.md).
        """
        while not (self.complete or self.timed_out or self.disconnected):
            seconds_left = self.seconds_left()
            if seconds_left <= 0:
                self.timed_out = True
                break
            try:
                message = await asyncio.wait_for(self._receive(), seconds_left)
            except TimeoutError:
                self.timed_out = True
                break
            if message["type"] == "http.disconnect":
                self.disconnected = True
                break
            self.complete = not message.get("more_body", False)
            chunk = cast(bytes, message.get("body", b""))
            if chunk:
                self.received_bytes += len(chunk)
                return chunk
        return b""

    def timeout_error(self) -> RequestTimeout:
        return RequestTimeout(
            f"the request body did not arrive in time ({self.received_bytes} bytes received;"
            f" send within {self._policy.grace_s:g} s plus 1 s per"
            f" {self._policy.min_rate_bytes_s} bytes)"
        )


class _WsgiInput:
    """``wsgi.input``: what the loop buffered, then (for large bodies) chunks
    fetched from the loop; a read past a missed deadline raises RequestTimeout."""

    def __init__(
        self,
        prefix: bytes,
        reader: _BodyReader,
        loop: asyncio.AbstractEventLoop | None,
    ) -> None:
        self._buffer = bytearray(prefix)
        self._reader = reader
        # None: everything the client will send is in the buffer already.
        self._loop = loop

    def _fill(self) -> bool:
        """Add a chunk to the buffer; False at the end of the body."""
        reader = self._reader
        if reader.timed_out:
            raise reader.timeout_error()
        if self._loop is None or reader.complete or reader.disconnected:
            return False
        future = asyncio.run_coroutine_threadsafe(reader.next_chunk(), self._loop)
        chunk = future.result(max(reader.seconds_left(), 0) + _LOOP_ANSWER_MARGIN_S)
        if reader.timed_out:
            raise reader.timeout_error()
        self._buffer += chunk
        return bool(chunk)

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            while self._fill():
                pass
        else:
            while len(self._buffer) < size and self._fill():
                pass
        end = len(self._buffer) if size is None or size < 0 else size
        data = bytes(self._buffer[:end])
        del self._buffer[:end]
        return data

    def readline(self, size: int | None = -1) -> bytes:
        limit = sys.maxsize if size is None or size < 0 else size
        searched = 0
        while True:
            newline = self._buffer.find(b"\n", searched)
            if newline >= 0 or len(self._buffer) >= limit:
                break
            searched = len(self._buffer)
            if not self._fill():
                break
        end = newline + 1 if newline >= 0 else len(self._buffer)
        return self.read(min(end, limit))

    def readlines(self, hint: int = -1) -> list[bytes]:
        return list(iter(self.readline, b""))

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")


def _environ(scope: Scope, body: _WsgiInput) -> dict[str, Any]:
    server = scope.get("server") or ("localhost", 80)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        # PEP 3333: native strings holding the bytes as latin-1.
        "SCRIPT_NAME": scope.get("root_path", "").encode().decode("latin-1"),
        "PATH_INFO": scope["path"].encode().decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"] = str(client[0])
        environ["REMOTE_PORT"] = str(client[1])
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name not in {"CONTENT_LENGTH", "CONTENT_TYPE"}:
            name = "HTTP_" + name
        if name in environ:
            environ[name] = f"{environ[name]},{value}"
        else:
            environ[name] = value
    return environ


def _announced_bytes(scope: Scope) -> int | None:
    """The body's Content-Length; None when chunked (or the length is not a number)."""
    for name, value in scope.get("headers", ()):
        lowered = name.lower()
        if lowered == b"transfer-encoding":
            return None
        if lowered == b"content-length":
            text = value.strip()
            if not text:
                return 0
            return int(text) if text.isdigit() else None
    return 0


def _close(iterable: Iterable[bytes]) -> None:
    close = getattr(iterable, "close", None)
    if close is not None:
        close()


def _next_batch(chunks: Iterator[bytes], batch_bytes: int) -> list[bytes]:
    batch: list[bytes] = []
    size_bytes = 0
    for chunk in chunks:
        if chunk:
            batch.append(chunk)
            size_bytes += len(chunk)
            if size_bytes >= batch_bytes:
                break
    return batch


class WsgiOverAsgi:
    """An ASGI app that runs ``wsgi_app`` in a pool of ``threads`` threads."""

    def __init__(
        self,
        wsgi_app: WsgiApp,
        *,
        threads: int,
        body_policy: BodyReadPolicy,
        buffer_bytes: int,
        buffer_budget_bytes: int = 64 * 1024 * 1024,
        batch_bytes: int = 256 * 1024,
        clock: Callable[[], float] = time.monotonic,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._app = wsgi_app
        self._on_close = on_close
        self._workers = _Workers(threads, "lomuz-http")
        self._policy = body_policy
        self._buffer_bytes = buffer_bytes
        self._buffer_budget_bytes = buffer_budget_bytes
        # Bytes of request bodies held by requests of this worker; only the
        # event loop's thread changes it.
        self.buffered_bytes = 0
        self._room_freed: asyncio.Event | None = None
        self._batch_bytes = batch_bytes
        self._clock = clock

    def close(self) -> None:
        """Stop the threads once their calls are done (the server is stopping), then
        run ``on_close`` (the app's own close: its push connection, its database)."""
        self._workers.stop()
        if self._on_close is not None:
            self._on_close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await asyncio.to_thread(self.close)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        reader = _BodyReader(receive, self._policy, self._clock(), self._clock)
        announced = _announced_bytes(scope)
        if announced == 0:
            reader.complete = True
            await self._answer(scope, reader, b"", send)
            return
        # Room for the whole buffer is reserved before a byte is read: a request
        # that waited while holding part of its body could wait for ever on
        # others doing the same.
        reserved_bytes = min(announced or self._buffer_bytes, self._buffer_bytes)
        if not await self._reserve(reserved_bytes, reader):
            await self._answer(scope, reader, b"", send)
            return
        try:
            parts: list[bytes] = []
            held_bytes = 0
            while held_bytes < self._buffer_bytes:
                chunk = await reader.next_chunk()
                if not chunk:
                    break
                parts.append(chunk)
                held_bytes += len(chunk)
            if reader.disconnected:
                return
            await self._answer(scope, reader, b"".join(parts), send)
        finally:
            self.buffered_bytes -= reserved_bytes
            if self._room_freed is not None:
                self._room_freed.set()

    async def _reserve(self, size_bytes: int, reader: _BodyReader) -> bool:
        """Wait until the worker's buffers have room for ``size_bytes`` and take it;
        False (nothing taken) past the body's deadline. Alone, a request always fits."""
        while self.buffered_bytes and self.buffered_bytes + size_bytes > self._buffer_budget_bytes:
            if self._room_freed is None:
                self._room_freed = asyncio.Event()
            self._room_freed.clear()
            seconds_left = reader.seconds_left()
            if seconds_left <= 0:
                reader.timed_out = True
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._room_freed.wait(), seconds_left)
        self.buffered_bytes += size_bytes
        return True

    async def _answer(self, scope: Scope, reader: _BodyReader, prefix: bytes, send: Send) -> None:
        loop = asyncio.get_running_loop()
        streams = not (reader.complete or reader.timed_out)
        body = _WsgiInput(prefix, reader, loop if streams else None)
        response = await self._workers.run(self._run, _environ(scope, body))
        headers = response.headers
        if not reader.complete:
            # The app answered before the whole body came: the rest is never read.
            headers = [(n, v) for n, v in headers if n != b"connection"]
            headers.append((b"connection", b"close"))
        try:
            await send(
                {"type": "http.response.start", "status": response.status, "headers": headers}
            )
            if response.rest is None:
                await send({"type": "http.response.body", "body": b"".join(response.chunks)})
                return
            await send(
                {"type": "http.response.body", "body": b"".join(response.chunks), "more_body": True}
            )
            while batch := await self._workers.run(_next_batch, response.rest, self._batch_bytes):
                await send(
                    {"type": "http.response.body", "body": b"".join(batch), "more_body": True}
                )
            await send({"type": "http.response.body", "body": b""})
        finally:
            if response.rest is not None:
                await self._workers.run(_close, response.iterable)

    def _run(self, environ: dict[str, Any]) -> _Response:
        """Call the app and gather its answer, or its first ``batch_bytes``, in this thread."""
        started: list[Any] = []
        written: list[bytes] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            if exc_info is not None and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [status, headers]
            return written.append

        iterable = self._app(environ, start_response)
        try:
            chunks = iter(iterable)
            first = written + _next_batch(chunks, self._batch_bytes)
            size_bytes = sum(len(c) for c in first)
            status, header_list = started
            headers = [
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in header_list
            ]
            response = _Response(int(status[:3]), headers, first, None, iterable)
            if size_bytes >= self._batch_bytes:
                response.rest = chunks
                return response
        except BaseException:
            _close(iterable)
            raise
        _close(iterable)
        return response
