"""netd.Client: one control connection to netd, used from one thread.

Requests may be in flight together: answers come in any order, and an
answer for another id (or a notification) that arrives while the client
waits is kept until it is asked for. Notifications go to the callback given
to the constructor, or else wait in a queue read by next_notification() and
notifications().
"""

import collections
import select
import socket as _socket
import time

from . import _wire
from ._wire import Error, Notification


class Client:
    """A connection to netd's control socket.

    socket: None ($NETD_SOCKET, else @netd), "@name" (abstract) or a path.
    on_notification: called as on_notification(Notification) for each
    notification as it is read; without it they are queued.
    """

    def __init__(self, socket=None, *, on_notification=None):
        self._sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
        try:
            self._sock.connect(_wire.address(socket))
        except OSError:
            self._sock.close()
            raise
        self._reader = _wire.Reader()
        self._answers = {}  # id -> (message, fds)
        self._abandoned = set()  # ids whose caller gave up waiting
        self._notes = collections.deque()
        self._on_notification = on_notification
        self._next_id = 1
        self._eof = False

    # -- the connection --

    def fileno(self):
        return self._sock.fileno()

    def close(self):
        """Closes the connection; handles not kept are closed by netd."""
        for _, fds in self._answers.values():
            _wire.close_fds(fds)
        self._answers.clear()
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- requests --

    def send(self, method, params=None, *, fd=None):
        """Sends one request without waiting; returns its id for wait().
        fd (a socket or descriptor) is passed to netd with the request."""
        rid = self._next_id
        self._next_id += 1
        line = _wire.request_line(rid, method, params)
        if fd is None:
            self._sock.sendall(line)
        else:
            sent = self._sock.sendmsg([line], _wire.ancillary_for(_wire.fd_of(fd)))
            if sent < len(line):
                self._sock.sendall(line[sent:])
        return rid

    def wait(self, rid, timeout=None):
        """The answer (a dict) to request @rid, and the descriptors that came
        with it. TimeoutError after @timeout seconds (None: no limit); the
        answer is then dropped when it comes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while rid not in self._answers:
            if not self._pump(deadline):
                self._abandoned.add(rid)
                raise TimeoutError(f"no answer from netd to request {rid} within {timeout} s")
        return self._answers.pop(rid)

    def call(self, method, params=None, timeout=None, *, fd=None):
        """Calls @method and returns its result; raises netd.Error for an
        error answer. @timeout bounds the wait here (give netd's own
        "timeout" in @params)."""
        msg, fds = self.wait(self.send(method, params, fd=fd), timeout)
        _wire.close_fds(fds)
        return _wire.result_of(method, msg)

    # -- descriptors --

    def release(self, handle, timeout=None):
        """Takes @handle's socket out of netd: a socket object (the handle ends)."""
        msg, fds = self.wait(self.send("release", {"handle": handle}), timeout)
        try:
            _wire.result_of("release", msg)
        except Error:
            _wire.close_fds(fds)
            raise
        if not fds:
            raise ConnectionError("netd answered release without passing a descriptor")
        _wire.close_fds(fds[1:])
        return _wire.socket_from_fd(fds[0])

    def assign(self, sock, timeout=None, **params):
        """Hands netd a socket (object or descriptor); returns its new handle.
        The caller's copy stays open: close it if netd alone should own it."""
        return self.call("assign", params, timeout, fd=sock)["handle"]

    # -- notifications --

    def next_notification(self, timeout=None):
        """The next notification, or None after @timeout seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._notes:
            if not self._pump(deadline):
                return None
        return self._notes.popleft()

    def notifications(self, timeout=None):
        """Yields notifications as they come; stops after @timeout seconds
        without one (None: never)."""
        while True:
            note = self.next_notification(timeout)
            if note is None:
                return
            yield note

    # -- reading --

    def _pump(self, deadline):
        """Reads one chunk; False when @deadline passed first."""
        if self._eof:
            raise ConnectionError("netd closed the control connection")
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([self._sock], [], [], left)
        if not ready:
            return False
        data, anc, _, _ = self._sock.recvmsg(_wire.CHUNK, _wire.ANCILLARY, _socket.MSG_CMSG_CLOEXEC)
        fds = _wire.fds_of(anc)
        if not data:
            _wire.close_fds(fds)
            self._eof = True
            raise ConnectionError("netd closed the control connection")
        for msg, line_fds in self._reader.feed(data, fds):
            self._take(msg, line_fds)
        return True

    def _take(self, msg, fds):
        if isinstance(msg, dict) and "method" in msg and "id" not in msg:
            _wire.close_fds(fds)
            note = Notification(msg["method"], msg.get("params"))
            if self._on_notification:
                self._on_notification(note)
            else:
                self._notes.append(note)
            return
        rid = msg.get("id") if isinstance(msg, dict) else None
        if rid in self._abandoned:
            self._abandoned.discard(rid)
            _wire.close_fds(fds)
            return
        self._answers[rid] = (msg, fds)
