#!/usr/bin/env python3
"""A slow name lookup never stalls netd's event loops.

netd runs in a private mount namespace whose /etc/resolv.conf points at a
DNS server of this test on 127.0.0.1:53 that answers only after a delay.
While netd waits for that answer, the same control connection (and so the
same worker) must go on serving other requests: a ping, a connect to a
numeric address, and a write/read round trip. The slow lookup is answered
last, with the resolve error the server's NXDOMAIN means.

Needs root (port 53, unshare, mount); exits 77 (skipped) without them.
"""
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77
DELAY = 1.5


def dns_server(sock, stop):
    """Answers every query with NXDOMAIN after DELAY seconds."""
    def answer(data, peer):
        time.sleep(DELAY)
        if stop.is_set() or len(data) < 12:
            return
        ident, _flags, qd = struct.unpack("!HHH", data[:6])
        reply = struct.pack("!HHHHHH", ident, 0x8183, qd, 0, 0, 0) + data[12:]
        try:
            sock.sendto(reply, peer)
        except OSError:
            pass

    while not stop.is_set():
        try:
            data, peer = sock.recvfrom(4096)
        except OSError:
            return
        threading.Thread(target=answer, args=(data, peer), daemon=True).start()


def echo_server(ls):
    while True:
        try:
            c, _ = ls.accept()
        except OSError:
            return
        def run(c=c):
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)
            c.close()
        threading.Thread(target=run, daemon=True).start()


class Client:
    def __init__(self, name):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect("\0" + name)
        self.f = self.s.makefile("rwb")
        self.next = 0

    def send(self, method, params):
        self.next += 1
        line = {"jsonrpc": "2.0", "id": self.next, "method": method, "params": params}
        self.f.write((json.dumps(line) + "\n").encode())
        self.f.flush()
        return self.next

    def recv(self):
        line = self.f.readline()
        if not line:
            raise SystemExit("FAIL: netd closed the connection")
        return json.loads(line)


def main():
    netd = os.environ.get("NETD_BIN")
    if not netd:
        raise SystemExit("FAIL: NETD_BIN is not set")
    if os.geteuid() != 0:
        print("SKIP: needs root for port 53 and a mount namespace")
        return SKIP
    dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        dns.bind(("127.0.0.1", 53))
    except OSError as e:
        print("SKIP: cannot bind 127.0.0.1:53:", e)
        return SKIP
    stop = threading.Event()
    threading.Thread(target=dns_server, args=(dns, stop), daemon=True).start()

    with tempfile.NamedTemporaryFile("w", suffix=".resolv", delete=False) as rc:
        rc.write("nameserver 127.0.0.1\noptions timeout:5 attempts:1\n")
    name = "netd-resolver-%d" % os.getpid()
    script = 'mount --bind "$1" /etc/resolv.conf && exec "$2" --socket "@$3" --workers 1'
    proc = subprocess.Popen(["unshare", "-m", "sh", "-c", script, "sh", rc.name, netd, name])
    try:
        for _ in range(250):
            try:
                c = Client(name)
                break
            except OSError:
                if proc.poll() is not None:
                    print("SKIP: netd could not start in a mount namespace")
                    return SKIP
                time.sleep(0.02)
        else:
            raise SystemExit("FAIL: netd did not come up")

        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(8)
        threading.Thread(target=echo_server, args=(ls,), daemon=True).start()
        port = ls.getsockname()[1]

        slow = c.send("address", {"host": "slow.netd-test.example", "port": 80})
        # One worker, one connection: all of these are served by the loop
        # that also started the lookup.
        order = []
        ping = c.send("ping", {})
        conn = c.send("connect", {"host": "127.0.0.1", "port": port})
        answers = {}
        while conn not in answers or ping not in answers:
            a = c.recv()
            answers[a["id"]] = a
            order.append(a["id"])
        if slow in answers:
            raise SystemExit("FAIL: the slow lookup was answered before the requests behind it")
        handle = answers[conn]["result"]["handle"]
        w = c.send("write", {"handle": handle, "data": "ping through", "encoding": "utf8"})
        r = c.send("chunk", {"handle": handle, "nbytes": 12, "encoding": "utf8"})
        while r not in answers or w not in answers:
            a = c.recv()
            answers[a["id"]] = a
            order.append(a["id"])
        if answers[r]["result"]["data"] != "ping through":
            raise SystemExit("FAIL: echo mismatch: %r" % answers[r])
        if slow in answers:
            raise SystemExit("FAIL: the slow lookup was answered before the round trip")
        a = c.recv()
        if a["id"] != slow:
            raise SystemExit("FAIL: unexpected answer %r" % a)
        err = a.get("error") or {}
        if err.get("code") != -32007 or "gai" not in (err.get("data") or {}):
            raise SystemExit("FAIL: the slow lookup should fail with -32007 resolve: %r" % a)
        print("ok: answers in order", order + [slow], "; slow lookup:", err["data"])
        return 0
    finally:
        stop.set()
        proc.terminate()
        try:
            code = proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        os.unlink(rc.name)
        dns.close()
        if code not in (0, -15):
            raise SystemExit("FAIL: netd exited with %d" % code)


if __name__ == "__main__":
    sys.exit(main())
