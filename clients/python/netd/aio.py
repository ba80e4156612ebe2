"""netd.aio.Client: the asyncio client.

    c = await netd.aio.Client.connect()
    h = (await c.call("connect", {"host": "localhost", "port": 7007}))["handle"]
    async for note in c.notifications(): ...

Any number of calls may be awaited at once (answers are matched by id).
The socket is read by a reader callback on the event loop, with recvmsg(),
so that descriptors passed by `release` reach the answer they came with.
"""

import asyncio
import socket as _socket

from . import _wire
from ._wire import Error, Notification

__all__ = ["Client", "Error", "Notification"]


class Client:
    """Use `await Client.connect(socket=None)`; socket as for netd.Client."""

    def __init__(self, sock, loop):
        self._sock = sock
        self._loop = loop
        self._reader = _wire.Reader()
        self._waiting = {}  # id -> future of (message, fds)
        self._notes = asyncio.Queue()
        self._next_id = 1
        self._closed_exc = None
        self._send_lock = asyncio.Lock()
        loop.add_reader(sock.fileno(), self._readable)

    @classmethod
    async def connect(cls, socket=None):
        loop = asyncio.get_running_loop()
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, _wire.address(socket))
        except OSError:
            sock.close()
            raise
        return cls(sock, loop)

    async def close(self):
        """Closes the connection; calls still waiting fail with ConnectionError."""
        if self._sock.fileno() >= 0:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
        self._fail_all(ConnectionError("the netd client was closed"))

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    async def call(self, method, params=None, timeout=None, *, fd=None):
        """Calls @method and returns its result; raises netd.Error for an
        error answer, TimeoutError after @timeout seconds of waiting here."""
        msg, fds = await self._request(method, params, fd, timeout)
        _wire.close_fds(fds)
        return _wire.result_of(method, msg)

    async def release(self, handle, timeout=None):
        """Takes @handle's socket out of netd: a socket object (the handle ends)."""
        msg, fds = await self._request("release", {"handle": handle}, None, timeout)
        try:
            _wire.result_of("release", msg)
        except Error:
            _wire.close_fds(fds)
            raise
        if not fds:
            raise ConnectionError("netd answered release without passing a descriptor")
        _wire.close_fds(fds[1:])
        return _wire.socket_from_fd(fds[0])

    async def assign(self, sock, timeout=None, **params):
        """Hands netd a socket (object or descriptor); returns its new handle."""
        return (await self.call("assign", params, timeout, fd=sock))["handle"]

    async def next_notification(self, timeout=None):
        """The next notification; TimeoutError after @timeout seconds,
        ConnectionError once the connection has ended and none is left."""
        note = await asyncio.wait_for(self._notes.get(), timeout)
        if note is None:
            self._notes.put_nowait(None)  # for every later reader too
            raise self._closed_exc
        return note

    async def notifications(self):
        """An async iterator over notifications as they come; it ends when
        the connection does."""
        while True:
            note = await self._notes.get()
            if note is None:
                self._notes.put_nowait(None)
                return
            yield note

    # -- internals --

    async def _request(self, method, params, fd, timeout):
        if self._closed_exc:
            raise self._closed_exc
        rid = self._next_id
        self._next_id += 1
        fut = self._loop.create_future()
        self._waiting[rid] = fut
        try:
            await self._send(_wire.request_line(rid, method, params), fd)
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._waiting.pop(rid, None)

    async def _send(self, line, fd):
        # One request's bytes must not interleave with another's.
        async with self._send_lock:
            sent = 0
            if fd is not None:
                anc = _wire.ancillary_for(_wire.fd_of(fd))
                while True:
                    try:
                        sent = self._sock.sendmsg([line], anc)
                        break
                    except BlockingIOError:
                        await self._writable()
            if sent < len(line):
                await self._loop.sock_sendall(self._sock, line[sent:])

    def _writable(self):
        fut = self._loop.create_future()
        fileno = self._sock.fileno()

        def ready():
            self._loop.remove_writer(fileno)
            if not fut.done():
                fut.set_result(None)

        self._loop.add_writer(fileno, ready)
        return fut

    def _readable(self):
        try:
            data, anc, _, _ = self._sock.recvmsg(_wire.CHUNK, _wire.ANCILLARY,
                                                 _socket.MSG_CMSG_CLOEXEC)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._lost(ConnectionError(f"reading from netd failed: {e}"))
            return
        fds = _wire.fds_of(anc)
        if not data:
            _wire.close_fds(fds)
            self._lost(ConnectionError("netd closed the control connection"))
            return
        try:
            messages = self._reader.feed(data, fds)
        except ConnectionError as e:
            self._lost(e)
            return
        for msg, line_fds in messages:
            self._take(msg, line_fds)

    def _take(self, msg, fds):
        if isinstance(msg, dict) and "method" in msg and "id" not in msg:
            _wire.close_fds(fds)
            self._notes.put_nowait(Notification(msg["method"], msg.get("params")))
            return
        fut = self._waiting.get(msg.get("id") if isinstance(msg, dict) else None)
        if fut is None or fut.done():
            _wire.close_fds(fds)  # its caller gave up waiting
            return
        fut.set_result((msg, fds))

    def _lost(self, exc):
        self._loop.remove_reader(self._sock.fileno())
        self._fail_all(exc)

    def _fail_all(self, exc):
        if self._closed_exc is None:
            self._notes.put_nowait(None)  # ends the notification stream
        self._closed_exc = self._closed_exc or exc
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(exc)
        self._waiting.clear()
