#!/usr/bin/env python3
"""One uid's slow lookups never delay another uid's (issue 9, finding 3).

netd runs in a private mount namespace whose /etc/resolv.conf points at a
DNS server of this test on 127.0.0.2:53 that never answers. A child that
has dropped to uid 65534 (allowed with --allow-uid) starts 40 lookups with
timeout 0.1: each fails at once for it, but glibc's getaddrinfo() goes on
waiting for the server. Then root looks up "localhost" (/etc/hosts): it
must be answered within a second, although the other uid's lookups still
hold resolver threads. A uid has at most --max-lookups-per-uid (4) running;
netd's stats are not needed to see it, the timing is the test.

Needs root (port 53, unshare, mount, setuid); exits 77 (skipped) without.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77
DNS = "127.0.0.2"
OTHER = 65534


def black_hole(sock, stop):
    """Takes every query and never answers."""
    while not stop.is_set():
        try:
            sock.recvfrom(4096)
        except OSError:
            return


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


def slow_lookups(name, count):
    """As uid OTHER: @count lookups that give up after 0.1 s; how many timed out."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = 1
        try:
            os.setgroups([])
            os.setgid(OTHER)
            os.setuid(OTHER)
            c = Client(name)
            for i in range(count):
                c.send("address", {"host": "slow%d.netd-test.example" % i, "port": 80,
                                   "timeout": 0.1})
            timed_out = 0
            for _ in range(count):
                a = c.recv()
                if (a.get("error") or {}).get("code") == -32001:
                    timed_out += 1
            os.write(w, str(timed_out).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    got = os.read(r, 64)
    os.waitpid(pid, 0)
    return int(got or b"-1")


def main():
    netd = os.environ.get("NETD_BIN")
    if not netd:
        raise SystemExit("FAIL: NETD_BIN is not set")
    if os.geteuid() != 0:
        print("SKIP: needs root for port 53, a mount namespace and another uid")
        return SKIP
    dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        dns.bind((DNS, 53))
    except OSError as e:
        print("SKIP: cannot bind %s:53:" % DNS, e)
        return SKIP
    stop = threading.Event()
    threading.Thread(target=black_hole, args=(dns, stop), daemon=True).start()

    with tempfile.NamedTemporaryFile("w", suffix=".resolv", delete=False) as rc:
        rc.write("nameserver %s\noptions timeout:5 attempts:2\n" % DNS)
    os.chmod(rc.name, 0o644)
    name = "netd-resolver-fair-%d" % os.getpid()
    script = 'mount --bind "$1" /etc/resolv.conf && exec "$2" --socket "@$3" --workers 2 ' \
             '--allow-uid %d' % OTHER
    proc = subprocess.Popen(["unshare", "-m", "sh", "-c", script, "sh", rc.name, netd, name])
    try:
        for _ in range(250):
            try:
                root = Client(name)
                break
            except OSError:
                if proc.poll() is not None:
                    print("SKIP: netd could not start in a mount namespace")
                    return SKIP
                time.sleep(0.02)
        else:
            raise SystemExit("FAIL: netd did not come up")

        timed_out = slow_lookups(name, 40)
        if timed_out != 40:
            raise SystemExit("FAIL: %d of the 40 slow lookups timed out, not all" % timed_out)
        t0 = time.monotonic()
        i = root.send("address", {"host": "localhost", "port": 80, "timeout": 30})
        a = root.recv()
        took = time.monotonic() - t0
        if a.get("id") != i or "result" not in a:
            raise SystemExit("FAIL: localhost was not resolved: %r" % a)
        print("ok: 40 lookups of uid %d hang; root's localhost lookup took %.3f s" % (OTHER, took))
        if took >= 1.0:
            raise SystemExit("FAIL: root's lookup waited %.1f s behind the other uid's" % took)
        return 0
    finally:
        stop.set()
        proc.terminate()
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        os.unlink(rc.name)
        dns.close()
        if code not in (0, -15):
            raise SystemExit("FAIL: netd exited with %d" % code)


if __name__ == "__main__":
    sys.exit(main())
