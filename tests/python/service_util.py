"""What the service tests share: a real netd process, raw JSON-RPC clients,
systemd's notification socket played by the test, and peers on loopback.

Standard library only. Every helper raises Failure (or AssertionError) when
something is not as the contract says; a test script catches nothing.
"""

import array
import base64
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

NETD = os.environ.get("NETD_BIN")
TIMEOUT = 10.0


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def equal(got, want, what):
    if got != want:
        raise Failure(f"{what}: got {got!r}, want {want!r}")


def need_netd():
    if not NETD:
        print("FAIL: NETD_BIN is not set (ctest sets it)", file=sys.stderr)
        sys.exit(1)


def unique(tag):
    return f"netd-{tag}-{os.getpid()}-{time.monotonic_ns() % 1000000}"


def sock_addr(name):
    return "\0" + name[1:] if name.startswith("@") else name


class Netd:
    """A netd started with @args; its stderr goes to a file the test reads."""

    def __init__(self, args, env=None, socket_name=None, wait=True, pass_fds=(), wrap=None):
        self.log = tempfile.NamedTemporaryFile(prefix="netd-log-", delete=False)
        self.socket = socket_name
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        cmd = [NETD] + list(args)
        if wrap:
            cmd = wrap + cmd
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=self.log, env=full_env,
            pass_fds=pass_fds)
        if wait and socket_name:
            self.wait_serving()

    def wait_serving(self, name=None):
        name = name or self.socket
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Failure(f"netd exited with {self.proc.returncode}:\n{self.stderr()}")
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(sock_addr(name))
                s.close()
                return
            except OSError:
                time.sleep(0.02)
        raise Failure(f"netd did not serve {name}:\n{self.stderr()}")

    def stderr(self):
        with open(self.log.name, "r", errors="replace") as f:
            return f.read()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=TIMEOUT):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise Failure(f"netd did not exit within {timeout} s:\n{self.stderr()}")

    def stop(self, timeout=TIMEOUT):
        """SIGTERM; netd must exit 0 without a leak line."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.wait(timeout)
        err = self.stderr()
        check(rc == 0, f"netd exited {rc}:\n{err}")
        check("netd: leak:" not in err, f"netd reported leaks:\n{err}")
        os.unlink(self.log.name)
        return err

    def wait_log(self, text, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.stderr():
                return
            time.sleep(0.02)
        raise Failure(f"netd never logged {text!r}:\n{self.stderr()}")


class Client:
    """One control connection: requests by id, notifications kept aside."""

    def __init__(self, name):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(sock_addr(name))
        self.buf = b""
        self.next_id = 1
        self.answers = {}
        self.notes = []
        self.lock = threading.Lock()

    def close(self):
        self.sock.close()

    def send(self, method, params=None):
        with self.lock:
            rid = self.next_id
            self.next_id += 1
        msg = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        return rid

    def _read_message(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("netd closed the control connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def answer(self, rid):
        while rid not in self.answers:
            m = self._read_message()
            if "id" in m:
                self.answers[m["id"]] = m
            else:
                self.notes.append(m)
        return self.answers.pop(rid)

    def call(self, method, params=None):
        m = self.answer(self.send(method, params))
        if "error" in m:
            raise Failure(f"{method} {params}: {m['error']}")
        return m["result"]

    def error(self, method, params=None):
        m = self.answer(self.send(method, params))
        if "error" not in m:
            raise Failure(f"{method} {params}: expected an error, got {m}")
        return m["error"]

    def notification(self, method, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            for i, n in enumerate(self.notes):
                if n.get("method") == method:
                    return self.notes.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure(f"no {method} notification")
            self.sock.settimeout(left)
            m = self._read_message()
            self.sock.settimeout(TIMEOUT)
            if "id" in m:
                self.answers[m["id"]] = m
            else:
                self.notes.append(m)


def read_exactly(c, handle, n, timeout=5):
    got = b""
    while len(got) < n:
        r = c.call("read", {"handle": handle, "nbytes": n - len(got), "timeout": timeout})
        check(not r.get("eof") or r.get("data"), f"eof after {len(got)} of {n} bytes")
        got += base64.b64decode(r["data"]) if r.get("encoding", "base64") == "base64" else \
            r["data"].encode()
    return got


class NotifySocket:
    """systemd's side of NOTIFY_SOCKET: a datagram socket on a fresh abstract
    name that collects every message, with the descriptors sent along."""

    def __init__(self):
        self.name = "@" + unique("notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(sock_addr(self.name))
        self.messages = []  # (monotonic time, text, [fds])

    def env(self):
        return {"NOTIFY_SOCKET": self.name}

    def poll(self, timeout):
        """Collects what arrives within @timeout seconds; returns the new ones."""
        new = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return new
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return new
            fds = array.array("i")
            msg, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(64 * fds.itemsize))
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(data[:len(data) - (len(data) % fds.itemsize)])
            item = (time.monotonic(), msg.decode(), list(fds))
            self.messages.append(item)
            new.append(item)

    def wait_for(self, pred, timeout=TIMEOUT, what="message"):
        deadline = time.monotonic() + timeout
        for m in self.messages:
            if pred(m[1]):
                return m
        while time.monotonic() < deadline:
            for m in self.poll(min(0.1, max(0.0, deadline - time.monotonic()))):
                if pred(m[1]):
                    return m
        raise Failure(f"no {what} on NOTIFY_SOCKET; got {[m[1] for m in self.messages]}")

    def close(self):
        self.sock.close()


class SlowReader:
    """A TCP peer that reads @chunk bytes every @pause seconds and keeps all."""

    def __init__(self, chunk=16384, pause=0.02, rcvbuf=8192):
        self.srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(4)
        self.port = self.srv.getsockname()[1]
        self.data = bytearray()
        self.done = threading.Event()
        self.chunk, self.pause = chunk, pause
        self.hold = threading.Event()  # set: stop reading for now
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        conn, _ = self.srv.accept()
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        while True:
            while self.hold.is_set():
                time.sleep(0.01)
            b = conn.recv(self.chunk)
            if not b:
                break
            self.data += b
            time.sleep(self.pause)
        conn.close()
        self.done.set()


def pattern(n, seed=0):
    """@n bytes that show where a byte went missing."""
    out = bytearray()
    i = seed
    while len(out) < n:
        out += i.to_bytes(4, "big")
        i += 1
    return bytes(out[:n])


def run(tests):
    need_netd()
    for t in tests:
        t0 = time.monotonic()
        t()
        print(f"ok {t.__name__} ({time.monotonic() - t0:.2f} s)")
