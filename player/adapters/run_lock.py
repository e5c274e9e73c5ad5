"""One daemon per data directory: an flock on the directory and on ``run.lock``.

A second ``lomuz-player run`` on the same directory exits with an error
instead of fighting over the cache and the control socket.
"""

from __future__ import annotations

import fcntl
import logging
import os
from typing import IO

from player.errors import PlayerError

log = logging.getLogger(__name__)


class DataDirLock:
    """One daemon per data directory: a second one would fight over the cache.

    The directory itself is locked (that needs no free byte), and ``run.lock``
    too when it can be created (a full disk may refuse it); ``lomuz-player
    clock reset`` looks at ``run.lock``.
    """

    def __init__(self, data_dir: os.PathLike[str]) -> None:
        self._dir_fd: int | None = None
        self._handle: IO[str] | None = None
        path = os.fspath(data_dir)
        busy = PlayerError(f"another lomuz-player daemon is running on {path}")
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            fd = None  # no directory (it could not be created): nothing to fight over
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                raise busy from exc
            self._dir_fd = fd
        lock_path = os.path.join(path, "run.lock")
        try:
            handle = open(lock_path, "a")  # noqa: SIM115 - held until release()
        except OSError as exc:
            log.warning("cannot create %s (%s): locking the directory only", lock_path, exc)
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            self.release()
            raise busy from exc
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None
