#!/usr/bin/env python3
"""The Python package in clients/python (netd.Client, netd.aio.Client)
against a real netd and real peers: calls and answers out of order, error
answers as netd.Error, notifications (server's `accepted`, a stream's
`closed`) by callback and by queue while other answers are kept, release
and assign with real sockets, the asyncio client doing the same, and the
socket name rules ($NETD_SOCKET, @name, a path). ctest runs it with
NETD_BIN set.
"""

import asyncio
import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))

import netd  # noqa: E402
import netd.aio  # noqa: E402

TIMEOUT = 10.0


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def equal(got, want, what):
    if got != want:
        raise Failure(f"{what}: got {got!r}, want {want!r}")


def start_netd(netd_bin, name):
    """netd on @name (abstract) or a path; returns once it accepts."""
    proc = subprocess.Popen([netd_bin, "--socket", name, "--log-level", "warn"])
    addr = "\0" + name[1:] if name.startswith("@") else name
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Failure(f"netd exited with {proc.returncode} before it listened")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(addr)
            return proc
        except OSError:
            time.sleep(0.05)
        finally:
            s.close()
    proc.kill()
    raise Failure(f"netd did not listen on {name} within {TIMEOUT} s")


def stop_netd(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        equal(proc.wait(timeout=TIMEOUT), 0, "netd exit status after SIGTERM")
    except subprocess.TimeoutExpired:
        proc.kill()
        raise Failure("netd did not stop on SIGTERM")


def tcp_listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    s.settimeout(TIMEOUT)
    return s


def recv_exactly(sock, n):
    got = b""
    sock.settimeout(TIMEOUT)
    while len(got) < n:
        chunk = sock.recv(n - len(got))
        check(chunk, f"peer closed after {len(got)} of {n} bytes")
        got += chunk
    return got


def read_exactly(c, handle, n):
    """Bytes of @handle through netd until @n came."""
    got = b""
    while len(got) < n:
        res = c.call("read", {"handle": handle, "nbytes": n - len(got), "timeout": TIMEOUT})
        check(not res["eof"], f"eof after {len(got)} of {n} bytes")
        got += base64.b64decode(res["data"])
    return got


def test_reader():
    """Descriptors go to the last line that begins in their chunk, or the one it continues."""
    from netd import _wire
    r = _wire.Reader()
    equal(r.feed(b'{"id":1', [7]), [], "half a line")
    equal(r.feed(b'}\n{"id":2}\n{"id":3', [8]), [({"id": 1}, [7]), ({"id": 2}, [])],
          "lines completed")
    equal(r.feed(b'}\n', []), [({"id": 3}, [8])], "the last line begun in a chunk has its fds")
    equal(r.feed(b'{"id":4', []), [], "a long line, first part")
    equal(r.feed(b'5', [9]), [], "a chunk inside a line")
    equal(r.feed(b'}\n', []), [({"id": 45}, [9])], "fds of a chunk that continued a line")


def test_calls_and_errors(c):
    equal(c.call("ping"), {}, "ping")
    try:
        c.call("read", {"handle": "h-none", "nbytes": 1})
        raise Failure("read on an unknown handle did not raise")
    except netd.Error as e:
        equal(e.code, netd.UNKNOWN_HANDLE, "code of read on an unknown handle")
        check(isinstance(e.message, str) and e.message, "error without a message")
        equal(e.method, "read", "method named by the error")
    try:
        c.call("read", {"handle": "h-none", "nbytes": 0})
        raise Failure("nbytes 0 did not raise")
    except netd.Error as e:
        equal(e.code, netd.INVALID_PARAMS, "code of nbytes 0")
        check("nbytes" in e.message, f"message does not name nbytes: {e.message}")
    try:
        c.call("no-such-method")
        raise Failure("an unknown method did not raise")
    except netd.Error as e:
        equal(e.code, netd.METHOD_NOT_FOUND, "code of an unknown method")
    # An error with data: the errno name of a refused connection.
    s = tcp_listener()
    port = s.getsockname()[1]
    s.close()
    try:
        c.call("connect", {"host": "127.0.0.1", "port": port})
        raise Failure("connect to a closed port did not raise")
    except netd.Error as e:
        equal((e.code, e.data), (netd.OS, {"errno": "ECONNREFUSED"}), "refused connect")


def test_out_of_order(c):
    """A read that waits is answered after a ping sent later; both are kept apart."""
    a, b = c.call("pair")["handles"]
    read_id = c.send("read", {"handle": b, "nbytes": 5, "timeout": TIMEOUT})
    ping_id = c.send("ping")
    msg, fds = c.wait(ping_id, TIMEOUT)
    equal((msg.get("result"), fds), ({}, []), "ping answered while a read waits")
    c.call("write", {"handle": a, "data": "hello", "encoding": "utf8"})
    msg, _ = c.wait(read_id, TIMEOUT)
    equal(base64.b64decode(msg["result"]["data"]), b"hello", "the waiting read's bytes")
    # Waiting here gives up after its timeout; the late answer is then dropped.
    rid = c.send("read", {"handle": b, "nbytes": 1, "timeout": 0.5})
    try:
        c.wait(rid, 0.05)
        raise Failure("wait with a short timeout did not raise TimeoutError")
    except TimeoutError:
        pass
    equal(c.call("ping"), {}, "ping after an abandoned wait")
    for h in (a, b):
        c.call("close", {"handle": h})


def test_notifications(c, name):
    """server's `accepted` by queue, with another answer arriving meanwhile."""
    lst = c.call("server", {"host": "127.0.0.1", "port": 0})["handle"]
    port = c.call("localname", {"handle": lst})["port"]
    a, b = c.call("pair")["handles"]
    read_id = c.send("read", {"handle": b, "nbytes": 2, "timeout": TIMEOUT})
    c.call("write", {"handle": a, "data": "ok", "encoding": "utf8"})
    peer = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    note = c.next_notification(TIMEOUT)
    check(note is not None, "no accepted notification")
    equal((note.method, note.params["listener"]), ("accepted", lst), "accepted notification")
    equal(note.params["peer"]["port"], peer.getsockname()[1], "accepted peer port")
    conn = note.params["handle"]
    # The read's answer came while the notification was awaited: it was kept.
    msg, _ = c.wait(read_id, TIMEOUT)
    equal(base64.b64decode(msg["result"]["data"]), b"ok", "answer kept while waiting")
    peer.sendall(b"from peer")
    equal(read_exactly(c, conn, 9), b"from peer", "bytes of the accepted connection")
    # The peer ends it: a `closed` notification for the looped stream.
    peer.close()
    notes = []
    for note in c.notifications(TIMEOUT):
        notes.append((note.method, note.params))
        break
    equal(notes, [("closed", {"handle": conn, "reason": "eof"})], "closed notification")
    equal(list(c.notifications(0.1)), [], "no further notification")
    for h in (conn, lst, a, b):
        c.call("close", {"handle": h})

    # The same through a callback, on a connection of its own.
    seen = []
    with netd.Client(name, on_notification=seen.append) as cb:
        lst = cb.call("server", {"host": "127.0.0.1", "port": 0})["handle"]
        port = cb.call("localname", {"handle": lst})["port"]
        peer = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        deadline = time.monotonic() + TIMEOUT
        while not seen and time.monotonic() < deadline:
            cb.call("ping")
        equal([n.method for n in seen], ["accepted"], "notifications seen by the callback")
        equal(seen[0].params["peer"]["port"], peer.getsockname()[1], "callback's peer port")
        equal(cb.next_notification(0.05), None, "the queue stays empty with a callback")
        peer.close()


def test_release_assign(c):
    # release: netd's connection to our listener becomes our socket object.
    lst = tcp_listener()
    h = c.call("connect", {"host": "127.0.0.1", "port": lst.getsockname()[1]})["handle"]
    far, _ = lst.accept()
    s = c.release(h)
    equal((s.family, s.type), (socket.AF_INET, socket.SOCK_STREAM), "released socket's kind")
    equal(s.getpeername(), far.getsockname(), "released socket's peer")
    s.sendall(b"released")
    equal(recv_exactly(far, 8), b"released", "bytes through the released socket")
    try:
        c.call("status", {"handle": h})
        raise Failure("the released handle still exists")
    except netd.Error as e:
        equal(e.code, netd.UNKNOWN_HANDLE, "status of a released handle")
    s.close()
    far.close()
    lst.close()
    try:
        c.release("h-none")
        raise Failure("release of an unknown handle did not raise")
    except netd.Error as e:
        equal(e.code, netd.UNKNOWN_HANDLE, "release of an unknown handle")
    # assign: one end of our socketpair becomes a handle of netd's.
    mine, theirs = socket.socketpair()
    h = c.assign(theirs)
    theirs.close()
    c.call("write", {"handle": h, "data": "assigned", "encoding": "utf8"})
    equal(recv_exactly(mine, 8), b"assigned", "netd writing to the assigned socket")
    mine.sendall(b"back")
    equal(read_exactly(c, h, 4), b"back", "netd reading the assigned socket")
    equal(c.call("status", {"handle": h})["kind"], "stream", "kind of the assigned socket")
    c.call("close", {"handle": h})
    mine.settimeout(TIMEOUT)
    equal(mine.recv(1), b"", "closing the handle closed the assigned socket")
    mine.close()


async def aio_main(name):
    async with await netd.aio.Client.connect(name) as c:
        equal(await c.call("ping"), {}, "aio ping")
        try:
            await c.call("close", {"handle": "h-none"})
            raise Failure("aio close of an unknown handle did not raise")
        except netd.Error as e:
            equal(e.code, netd.UNKNOWN_HANDLE, "aio error code")
        # Calls awaited together: the waiting read does not hold up the pings.
        a, b = (await c.call("pair"))["handles"]
        read = asyncio.ensure_future(c.call("read", {"handle": b, "nbytes": 3,
                                                     "timeout": TIMEOUT, "encoding": "utf8"}))
        pings = await asyncio.wait_for(asyncio.gather(*(c.call("ping") for _ in range(20))),
                                       TIMEOUT)
        equal(pings, [{}] * 20, "aio pings while a read waits")
        check(not read.done(), "the read finished before anything was written")
        await c.call("write", {"handle": a, "data": "abc", "encoding": "utf8"})
        equal((await asyncio.wait_for(read, TIMEOUT))["data"], "abc", "aio read")
        try:
            await c.call("read", {"handle": b, "nbytes": 1, "timeout": 5}, timeout=0.05)
            raise Failure("aio call with a short timeout did not raise")
        except asyncio.TimeoutError:
            pass
        # netd still holds that read; it would take the next bytes, so cancel it.
        equal(await c.call("cancel", {"handle": b}), {"cancelled": 1}, "aio cancel")
        # Notifications as an async stream.
        lst = (await c.call("server", {"host": "127.0.0.1", "port": 0}))["handle"]
        port = (await c.call("localname", {"handle": lst}))["port"]
        peer = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)

        async def first_note():
            async for note in c.notifications():
                return note
        note = await asyncio.wait_for(first_note(), TIMEOUT)
        equal((note.method, note.params["listener"]), ("accepted", lst), "aio accepted")
        equal(note.params["peer"]["port"], peer.getsockname()[1], "aio accepted peer")
        peer.close()
        note = await c.next_notification(TIMEOUT)
        equal((note.method, note.params["reason"]), ("closed", "eof"), "aio closed")
        # release and assign.
        s = await c.release(a)
        equal(s.family, socket.AF_UNIX, "aio released socket's family")
        s.sendall(b"xyz")
        got = await c.call("read", {"handle": b, "nbytes": 3, "timeout": TIMEOUT,
                                    "encoding": "utf8"})
        equal(got["data"], "xyz", "bytes through the aio-released socket")
        s.close()
        mine, theirs = socket.socketpair()
        h = await c.assign(theirs.fileno())
        theirs.close()
        await c.call("write", {"handle": h, "data": "aio", "encoding": "utf8"})
        equal(recv_exactly(mine, 3), b"aio", "aio assigned socket")
        mine.close()
    # Calls after close fail at once.
    try:
        await c.call("ping")
        raise Failure("a call after close did not fail")
    except ConnectionError:
        pass


def test_names(netd_bin, name):
    """None means $NETD_SOCKET (else @netd); a path is a filesystem socket."""
    old = os.environ.get("NETD_SOCKET")
    os.environ["NETD_SOCKET"] = name
    try:
        with netd.Client() as c:
            equal(c.call("ping"), {}, "ping through $NETD_SOCKET")
    finally:
        if old is None:
            del os.environ["NETD_SOCKET"]
        else:
            os.environ["NETD_SOCKET"] = old
    d = tempfile.mkdtemp(prefix="netd-pkg-")
    try:
        path = os.path.join(d, "netd.sock")
        proc = start_netd(netd_bin, path)
        try:
            with netd.Client(path) as c:
                equal(c.call("ping"), {}, "ping on a path socket")
        finally:
            stop_netd(proc)
    finally:
        shutil.rmtree(d)


def main():
    netd_bin = os.environ.get("NETD_BIN")
    if not netd_bin:
        print("FAIL: NETD_BIN is not set (ctest sets it)", file=sys.stderr)
        return 2
    name = f"@netd-pkg-{os.getpid()}"
    proc = None
    try:
        test_reader()
        proc = start_netd(netd_bin, name)
        with netd.Client(name) as c:
            test_calls_and_errors(c)
            test_out_of_order(c)
            test_notifications(c, name)
            test_release_assign(c)
        asyncio.run(aio_main(name))
        test_names(netd_bin, name)
        stop_netd(proc)
    except (Failure, OSError, ValueError, KeyError, TypeError, netd.Error,
            asyncio.TimeoutError) as e:
        print(f"FAIL: {type(e).__name__}: {e}", file=sys.stderr)
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()
        return 1
    print("ok: call, errors, answers out of order, notifications (queue, callback), "
          "release/assign, asyncio, socket names")
    return 0


if __name__ == "__main__":
    sys.exit(main())
