#!/usr/bin/env python3
"""Random requests: netd answers each with one valid response and never dies.

A seeded generator mixes real methods, real and stale handles, and values of
every JSON type for every parameter (taken from rpc.discover, so new methods
are covered without editing this file), plus garbage lines. Every request
with an id must get exactly one answer carrying that id, either a result or
an error with a code from the contract's table; netd must still answer ping
on a second connection at the end, and exit 0 on SIGTERM. Under the
sanitizer builds any memory error makes netd exit non-zero, which fails
this test.
"""
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time

CODES = {-32700, -32600, -32601, -32602, -32603, -32000, -32001, -32002, -32003, -32004,
         -32005, -32006, -32007, -32008}
ROUNDS = int(os.environ.get("NETD_FUZZ_ROUNDS", "20000"))
SEED = int(os.environ.get("NETD_FUZZ_SEED", "20261121"))
# Methods that would make the run slow or leave the test nothing to talk to
# (monitor answers only when its connection ends, and would then interleave
# an event with every answer).
AVOID = {"accept-loop", "monitor"}


class Conn:
    def __init__(self, name):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect("\0" + name)
        self.s.settimeout(30)
        self.buf = b""

    def send(self, line):
        self.s.sendall(line + b"\n")

    def recv(self):
        """The next answer; notifications (accepted, closed) are skipped."""
        while True:
            while b"\n" not in self.buf:
                d = self.s.recv(1 << 20)
                if not d:
                    raise SystemExit("FAIL: netd closed the connection")
                self.buf += d
            line, self.buf = self.buf.split(b"\n", 1)
            msg = json.loads(line)
            if not (isinstance(msg, dict) and "method" in msg and "id" not in msg):
                return msg


def values(rng, handles, port):
    pool = [None, True, False, 0, 1, -1, 0.5, 2 ** 53, -(2 ** 63), 1e308, "", "all",
            "base64", "utf8", "hex", "stream", "datagram", "127.0.0.1", "::1", "localhost",
            "@netd-fuzz-none", "/nonexistent/sock", "aGVsbG8=", "zz", "\u0000", "x" * 300,
            [], [1, "a"], {}, {"host": "127.0.0.1", "port": port}, {"path": "@x"}, port,
            "h0.1", "h9.1", "h0.ffffffffffffffff", "so-rcvbuf", "tcp-nodelay", "readable"]
    pool += handles
    return rng.choice(pool)


def main():
    netd = os.environ.get("NETD_BIN")
    if not netd:
        raise SystemExit("FAIL: NETD_BIN is not set")
    name = "netd-fuzz-%d" % os.getpid()
    proc = subprocess.Popen([netd, "--socket", "@" + name, "--workers", "2",
                             "--log-level", "error"])
    try:
        for _ in range(250):
            try:
                c = Conn(name)
                break
            except OSError:
                time.sleep(0.02)
        else:
            raise SystemExit("FAIL: netd did not come up")
        watcher = Conn(name)

        # A real peer so that connects can succeed.
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(64)
        port = ls.getsockname()[1]
        peers = []

        def accept():
            while True:
                try:
                    peers.append(ls.accept()[0])
                except OSError:
                    return

        threading.Thread(target=accept, daemon=True).start()

        c.send(b'{"jsonrpc":"2.0","id":0,"method":"rpc.discover"}')
        doc = c.recv()["result"]
        methods = [(m["name"], [p["name"] for p in m["params"]])
                   for m in doc["methods"] if m["name"] not in AVOID]

        rng = random.Random(SEED)
        handles = []
        for i in range(1, ROUNDS + 1):
            if rng.random() < 0.05:
                garbage = rng.choice([b"{", b"[]", b"[1,2]", b"null", b'{"jsonrpc":"2.0"}',
                                      b"\xff\xfe", b'{"jsonrpc":"2.0","id":{},"method":"ping"}'])
                c.send(garbage)
                a = c.recv()
                if isinstance(a, list):
                    a = a[0]
                if a.get("error", {}).get("code") not in CODES:
                    raise SystemExit("FAIL: garbage %r got %r" % (garbage, a))
                continue
            method, pnames = rng.choice(methods)
            params = {}
            for p in pnames:
                if rng.random() < 0.6:
                    params[p] = values(rng, handles, port)
            if rng.random() < 0.1:
                params["timeout"] = rng.choice([0, 0.01, 0.05])
            elif method in ("read", "chunk", "accept", "recv-from", "wait", "write", "connect",
                            "address", "send-to", "starttls"):
                params["timeout"] = 0.05
            if method == "splice" and params.get("wait") is not False:
                # A splice of two live streams answers when they end, which
                # the fuzzer's peers never do: ask for the notification instead.
                params["wait"] = False
            req = {"jsonrpc": "2.0", "id": i, "method": method, "params": params}
            c.send(json.dumps(req).encode())
            a = c.recv()
            if a.get("id") != i:
                raise SystemExit("FAIL: %r answered with %r" % (req, a))
            if "result" in a:
                r = a["result"]
                if method == "attach" and isinstance(r, dict) and r.get("mode") == "upgrade":
                    # The connection is the stream now: go on with a new one.
                    c.s.close()
                    c = Conn(name)
                if isinstance(r, dict):
                    for k in ("handle",):
                        if isinstance(r.get(k), str):
                            handles.append(r[k])
                    for h in r.get("handles", []) if isinstance(r.get("handles"), list) else []:
                        if isinstance(h, str):
                            handles.append(h)
            elif a.get("error", {}).get("code") not in CODES:
                raise SystemExit("FAIL: %r got an error outside the table: %r" % (req, a))
            if i % 500 == 0:
                watcher.send(b'{"jsonrpc":"2.0","id":"w","method":"ping"}')
                if watcher.recv().get("result") != {}:
                    raise SystemExit("FAIL: the second connection was not served")
            handles = handles[-40:]
        print("ok: %d random requests answered (seed %d)" % (ROUNDS, SEED))
        return 0
    finally:
        proc.terminate()
        try:
            code = proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        if code != 0:
            raise SystemExit("FAIL: netd exited with %d" % code)


if __name__ == "__main__":
    sys.exit(main())
