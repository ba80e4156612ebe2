#!/usr/bin/env python3
"""Drives a real netd with raw JSON-RPC lines, as a program in any language would.

Uses only the standard library: the point is that nothing but a unix socket
and a JSON parser is needed to use netd. ctest runs it with NETD_BIN set.
"""

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

TIMEOUT = 10.0  # seconds any single step may take before the test gives up
E_UNKNOWN_HANDLE = -32002


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def equal(got, want, what):
    if got != want:
        raise Failure(f"{what}: got {got!r}, want {want!r}")


class EchoServer:
    """A TCP echo server on 127.0.0.1 with an ephemeral port.

    It counts connections that ended, so the test can see that closing a
    handle in netd really closes the socket on the wire.
    """

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.ended = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn):
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    break
                if not data:
                    break
                conn.sendall(data)
        with self.lock:
            self.ended += 1

    def wait_ended(self, n):
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            with self.lock:
                if self.ended >= n:
                    return
            time.sleep(0.02)
        raise Failure(f"echo server saw {self.ended} connections end, want {n}")


class Control:
    """One control connection: writes request lines, matches answers by id.

    Answers may come in any order (the contract serves requests
    concurrently), so answers to other ids are kept until asked for.
    """

    def __init__(self, name):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect("\0" + name)
        self.buf = b""
        self.kept = {}
        self.next_id = 1

    def request_line(self, method, params=None, rid=None):
        if rid is None:
            rid = self.next_id
            self.next_id += 1
        msg = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        return rid, (json.dumps(msg) + "\n").encode()

    def send(self, method, params=None, rid=None):
        rid, line = self.request_line(method, params, rid)
        self.sock.sendall(line)
        return rid

    def _read_message(self):
        while b"\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise Failure(f"no answer from netd within {TIMEOUT} s")
            check(chunk, "netd closed the control connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        msg = json.loads(line)
        equal(msg.get("jsonrpc"), "2.0", "jsonrpc member of an answer")
        return msg

    def answer(self, rid):
        """The whole response object for @rid."""
        while rid not in self.kept:
            msg = self._read_message()
            if "id" not in msg:
                continue  # a notification; this test starts nothing that sends them
            check(msg["id"] not in self.kept, f"two answers to id {msg['id']!r}")
            self.kept[msg["id"]] = msg
        return self.kept.pop(rid)

    def call(self, method, params=None):
        msg = self.answer(self.send(method, params))
        check("error" not in msg, f"{method} {params}: error {msg.get('error')}")
        check(isinstance(msg.get("result"), dict), f"{method}: result is not an object: {msg}")
        return msg["result"]

    def error(self, method, params=None):
        msg = self.answer(self.send(method, params))
        check("error" in msg, f"{method} {params}: expected an error, got {msg}")
        return msg["error"]


def start_netd(netd_bin, name):
    proc = subprocess.Popen([netd_bin, "--socket", "@" + name])
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Failure(f"netd exited with {proc.returncode} before it listened")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect("\0" + name)
            return proc
        except OSError:
            time.sleep(0.05)
        finally:
            s.close()
    proc.kill()
    raise Failure(f"netd did not listen on @{name} within {TIMEOUT} s")


def read_exactly(ctl, handle, n, encoding="base64"):
    """Reads until @n bytes came back; read returns as soon as any byte is there."""
    got = b""
    while len(got) < n:
        res = ctl.call("read", {"handle": handle, "nbytes": n - len(got), "timeout": TIMEOUT,
                                "encoding": encoding})
        check(not res["eof"], f"eof after {len(got)} of {n} echoed bytes")
        check(res["data"], "read returned no data and no eof")
        if res["encoding"] == "utf8":
            got += res["data"].encode("utf-8")
        else:
            equal(res["encoding"], "base64", "read encoding")
            got += base64.b64decode(res["data"], validate=True)
    equal(len(got), n, "bytes read")
    return got


def test_address(ctl, port):
    res = ctl.call("address", {"host": "localhost", "port": port, "family": "inet"})
    addr = res["handle"]
    check(isinstance(addr, str) and 0 < len(addr) <= 64, f"address handle {addr!r}")
    unpacked = ctl.call("address-unpack", {"handle": addr})
    equal(unpacked, {"family": "inet", "host": "127.0.0.1", "port": port,
                     "hostname": "localhost"}, "address-unpack")
    return addr


def test_echo(ctl, addr, port):
    via_addr = ctl.call("connect", {"address": addr})["handle"]
    via_host = ctl.call("connect", {"host": "127.0.0.1", "port": port})["handle"]
    check(via_addr != via_host, "two connections got the same handle")

    # Every byte value, so base64 has to carry what UTF-8 could not.
    binary = bytes(range(256)) * 3
    res = ctl.call("write", {"handle": via_addr, "data": base64.b64encode(binary).decode()})
    equal(res, {"written": len(binary)}, "base64 write")
    equal(read_exactly(ctl, via_addr, len(binary)), binary, "echo of binary data")

    text = "h\u00e9llo, netd \u2713\n"
    res = ctl.call("write", {"handle": via_host, "data": text, "encoding": "utf8"})
    equal(res, {"written": len(text.encode())}, "utf8 write")
    echoed = read_exactly(ctl, via_host, len(text.encode()), encoding="utf8")
    equal(echoed.decode(), text, "echo of utf8 text")
    return via_addr, via_host


def test_pipeline(ctl, handle):
    """Several requests in one send; each id must get exactly its own answer."""
    payload = b"pipelined"
    lines = [
        ctl.request_line("ping", rid="first"),
        ctl.request_line("write", {"handle": handle, "data": base64.b64encode(payload).decode()},
                         rid=1001),
        ctl.request_line("read", {"handle": handle, "nbytes": len(payload), "timeout": TIMEOUT},
                         rid=1002),
        ctl.request_line("status", {"handle": handle}, rid="st"),
        ctl.request_line("ping", rid=1003),
    ]
    ctl.sock.sendall(b"".join(line for _, line in lines))

    equal(ctl.answer("first").get("result"), {}, "pipelined ping 'first'")
    equal(ctl.answer(1003).get("result"), {}, "pipelined ping 1003")
    equal(ctl.answer(1001).get("result"), {"written": len(payload)}, "pipelined write")
    status = ctl.answer("st").get("result")
    check(isinstance(status, dict), f"pipelined status: {status}")
    equal((status["handle"], status["kind"], status["state"]), (handle, "stream", "success"),
          "pipelined status")
    first = ctl.answer(1002).get("result")
    check(first and not first["eof"], f"pipelined read: {first}")
    got = base64.b64decode(first["data"], validate=True)
    got += read_exactly(ctl, handle, len(payload) - len(got)) if len(got) < len(payload) else b""
    equal(got, payload, "pipelined echo")
    check(not ctl.kept, f"answers to ids nobody sent: {list(ctl.kept)}")


def test_close(ctl, echo, handles):
    for h in handles:
        equal(ctl.call("close", {"handle": h}), {}, f"close {h}")
    echo.wait_ended(2)  # both stream handles were TCP connections to the echo server
    for h in handles:
        err = ctl.error("read", {"handle": h, "nbytes": 1, "timeout": 0})
        equal(err.get("code"), E_UNKNOWN_HANDLE, f"read on closed handle {h}")
        check(isinstance(err.get("message"), str) and err["message"], "error without a message")
    err = ctl.error("close", {"handle": handles[0]})
    equal(err.get("code"), E_UNKNOWN_HANDLE, "second close of a handle")


def stop_netd(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise Failure(f"netd did not exit within {TIMEOUT} s of SIGTERM")
    equal(rc, 0, "netd exit status after SIGTERM")


def main():
    netd_bin = os.environ.get("NETD_BIN")
    if not netd_bin:
        print("FAIL: NETD_BIN is not set (ctest sets it)", file=sys.stderr)
        return 2
    name = f"netd-py-{os.getpid()}"
    echo = EchoServer()
    proc = None
    try:
        proc = start_netd(netd_bin, name)
        ctl = Control(name)
        equal(ctl.call("ping"), {}, "ping")
        addr = test_address(ctl, echo.port)
        via_addr, via_host = test_echo(ctl, addr, echo.port)
        test_pipeline(ctl, via_host)
        test_close(ctl, echo, [via_addr, via_host])
        equal(ctl.call("close", {"handle": addr}), {}, "close address handle")
        ctl.sock.close()
        stop_netd(proc)
    except (Failure, OSError, ValueError, KeyError, TypeError) as e:
        print(f"FAIL: {type(e).__name__ + ': ' if not isinstance(e, Failure) else ''}{e}",
              file=sys.stderr)
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()
        return 1
    print("ok: ping, address, connect, write, read, pipelining, close, SIGTERM")
    return 0


if __name__ == "__main__":
    sys.exit(main())
