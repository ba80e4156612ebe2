#!/usr/bin/env python3
"""netd under systemd, with the test playing systemd's part (issue 10, items
5, 6 and 7): a real NOTIFY_SOCKET datagram listener that checks every
message in order, the watchdog (a worker stopped with ptrace stops the
pings), journald's priority prefixes, and sockets passed in LISTEN_FDS.
"""

import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from service_util import (NETD, Client, Failure, Netd, NotifySocket, check,  # noqa: E402
                          equal, run, sock_addr, unique)


def mono_usec():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def texts(ns, skip=("WATCHDOG=1",)):
    """The messages in order, without the periodic ones."""
    return [m[1] for m in ns.messages if m[1] not in skip and not m[1].startswith("STATUS=")]


def test_notify_in_order():
    ns = NotifySocket()
    name = "@" + unique("notify")
    cfg = f"/tmp/{unique('notify')}.conf"
    with open(cfg, "w") as f:
        f.write(f"[netd]\nsocket = {name}\n")
    n = Netd(["--config", cfg], env={**ns.env(), "WATCHDOG_USEC": "300000"}, socket_name=name)
    ns.wait_for(lambda t: t == "READY=1", what="READY=1")
    equal(ns.messages[0][1], "READY=1", "the first message")
    st = ns.wait_for(lambda t: t.startswith("STATUS="), what="STATUS")[1]
    check(re.fullmatch(r"STATUS=serving: \d+ connections, \d+ handles, \d+ bytes in, "
                       r"\d+ bytes out", st), f"STATUS format: {st!r}")
    c = Client(name)
    h = c.call("address", {"host": "127.0.0.1", "port": 80})["handle"]
    ns.poll(1.0)
    pings = [m[0] for m in ns.messages if m[1] == "WATCHDOG=1"]
    # About six are due; a loaded machine (sanitizer runs) may delay some.
    check(len(pings) >= 3, f"{len(pings)} watchdog pings in about 1 s at WATCHDOG_USEC=300000")
    gaps = sorted(b - a for a, b in zip(pings, pings[1:]))
    gap = gaps[len(gaps) // 2]
    check(0.1 < gap < 0.28, f"pings every {gap:.3f} s, want half of 0.3 s")
    before = mono_usec()
    n.signal(signal.SIGHUP)
    rl = ns.wait_for(lambda t: t.startswith("RELOADING=1"), what="RELOADING=1")[1]
    after = mono_usec()
    m = re.fullmatch(r"RELOADING=1\nMONOTONIC_USEC=(\d+)", rl)
    check(m, f"RELOADING message: {rl!r}")
    check(before <= int(m.group(1)) <= after, "MONOTONIC_USEC is not the time of the reload")
    ns.wait_for(lambda t: t == "READY=1" and texts(ns).count("READY=1") == 2, what="READY=1 again")
    ns.poll(0.2)
    st = [m[1] for m in ns.messages if m[1].startswith("STATUS=serving")][-1]
    check(" 1 connections, 1 handles," in st, f"STATUS after the reload: {st!r}")
    # A reload that is refused still ends with READY=1, and says why.
    with open(cfg, "w") as f:
        f.write("[netd]\nworkers = many\n")
    n.signal(signal.SIGHUP)
    ns.wait_for(lambda t: t.startswith("READY=1\nSTATUS=reload refused:"), what="refused reload")
    c.call("close", {"handle": h})
    c.close()
    n.signal(signal.SIGTERM)
    equal(n.wait(), 0, "exit status")
    ns.poll(0.3)
    got = texts(ns)
    equal(len(got), 7, f"messages: {got}")
    equal(got[:3], ["READY=1", rl, "READY=1"], "start and the first reload")
    check(re.fullmatch(r"RELOADING=1\nMONOTONIC_USEC=\d+", got[3]), f"second reload: {got[3]!r}")
    check(got[4].startswith(f"READY=1\nSTATUS=reload refused: {cfg}:2: "), got[4])
    equal(got[5], "STOPPING=1", "the stop")
    # No handle was kept, but the state (the seq counters) still goes to the
    # descriptor store, so the next netd never gives a name twice.
    equal(got[6], "FDSTORE=1\nFDNAME=netd-state\nFDPOLL=0", "the last message")
    fds = [m[2] for m in ns.messages if m[1] == got[6]][0]
    equal(len(fds), 1, "descriptors with the state")
    state = json.loads(os.pread(fds[0], 1 << 20, 0))
    equal(state["handles"], [], "handles in the state")
    check(max(state["workers"]) > 1, f"seq counters: {state['workers']}")
    for m in ns.messages:
        check(m[1] == got[6] or not m[2], f"descriptors with {m[1]!r}")
        for fd in m[2]:
            os.close(fd)
    last = [m[1] for m in ns.messages if m[1].startswith("STATUS=")][-1]
    check(last.startswith("STATUS=stopping: "), f"the last status: {last!r}")
    os.unlink(cfg)
    ns.close()


def worker_tids(pid):
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            out[f.read().strip()] = int(tid)
    return out


def test_stuck_worker_stops_the_pings():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    PTRACE_SEIZE, PTRACE_INTERRUPT, PTRACE_DETACH = 0x4206, 0x4207, 17
    ns = NotifySocket()
    name = "@" + unique("wd")
    n = Netd(["--socket", name, "--workers", "2"],
             env={**ns.env(), "WATCHDOG_USEC": "200000"}, socket_name=name)
    ns.wait_for(lambda t: t == "READY=1", what="READY=1")
    tids = worker_tids(n.proc.pid)
    check("netd-w1" in tids, f"no thread named netd-w1: {tids}")
    tid = tids["netd-w1"]
    if libc.ptrace(PTRACE_SEIZE, tid, None, None) != 0:
        print(f"  skipped: ptrace: {os.strerror(ctypes.get_errno())}")
        n.stop()
        return
    libc.ptrace(PTRACE_INTERRUPT, tid, None, None)
    os.waitpid(tid, 0x40000000)  # __WALL: the worker thread is stopped now
    t0 = time.monotonic()
    ns.poll(1.0)
    late = [m for m in ns.messages if m[1] == "WATCHDOG=1" and m[0] > t0 + 0.25]
    equal(len(late), 0, "pings while a worker is stopped")
    c = Client(name)  # the main thread still serves; worker 0 answers
    c.close()
    libc.ptrace(PTRACE_DETACH, tid, None, None)
    t1 = time.monotonic()
    ns.poll(0.8)
    again = [m for m in ns.messages if m[1] == "WATCHDOG=1" and m[0] > t1]
    check(len(again) >= 2, f"{len(again)} pings after the worker went on")
    check("watchdog: a worker has not turned its loop" in n.stderr(), "the stuck worker is logged")
    n.stop()
    ns.close()


def test_journald_prefixes():
    name = "@" + unique("journal")
    cfg = f"/tmp/{unique('journal')}.conf"
    with open(cfg, "w") as f:
        f.write(f"[netd]\nsocket = {name}\nlog-level = debug\n")
    log = open(f"/tmp/{unique('journal')}.log", "w+")
    st = os.fstat(log.fileno())
    env = {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
    p = subprocess.Popen([NETD, "--config", cfg], stderr=log, env={**os.environ, **env})
    n = Netd.__new__(Netd)
    n.proc, n.log, n.socket = p, log, name
    n.wait_serving()
    Client(name).close()  # debug: a connection opens and closes
    with open(cfg, "w") as f:
        f.write(f"[netd]\nsocket = {name}\nlog-level = debug\nworkers = 7\n")
    p.send_signal(signal.SIGHUP)  # warn: workers need a restart
    n.wait_log("needs a restart")
    with open(cfg, "w") as f:
        f.write("[netd]\nbroken\n")
    p.send_signal(signal.SIGHUP)  # error: refused
    n.wait_log("reload refused")
    p.send_signal(signal.SIGTERM)
    equal(p.wait(10), 0, "exit status")
    lines = n.stderr().splitlines()
    prefixes = set()
    for line in lines:
        m = re.match(r"<([0-7])>netd\[(main|w\d+)\] (error|warn|info|debug): ", line)
        check(m, f"a journal line without its priority: {line!r}")
        check(not re.search(r"\d{4}-\d\d-\d\dT\d\d:", line), f"a timestamp: {line!r}")
        want = {"error": "3", "warn": "4", "info": "6", "debug": "7"}[m.group(3)]
        equal(m.group(1), want, f"priority of {line!r}")
        prefixes.add(m.group(1))
    equal(prefixes, {"3", "4", "6", "7"}, "priorities seen")
    check(f"<6>netd[main] info: serving {name}" in lines, "the socket served is logged")
    os.unlink(log.name)
    os.unlink(cfg)
    # JOURNAL_STREAM naming another stream: stderr was redirected, keep timestamps.
    log2 = open(f"/tmp/{unique('journal')}.log", "w+")
    p = subprocess.Popen([NETD, "--socket", "@" + unique("j")], stderr=log2,
                         env={**os.environ, "JOURNAL_STREAM": "1:1"})
    time.sleep(0.3)
    p.send_signal(signal.SIGTERM)
    equal(p.wait(10), 0, "exit status")
    log2.seek(0)
    first = log2.readline()
    check(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z netd\[main\] info: ", first),
          f"outside the journal lines keep their time: {first!r}")
    os.unlink(log2.name)


# Runs netd with the listening sockets at descriptors 3, 4 ... and
# LISTEN_PID set to netd's own pid, as systemd does.
WRAP = r"""
import os, sys
fds = [int(x) for x in sys.argv[1].split(",")]
for i, fd in enumerate(fds):
    os.dup2(fd, 3 + i)
for fd in fds:
    if fd >= 3 + len(fds):
        os.close(fd)
os.environ["LISTEN_PID"] = str(os.getpid())
os.environ["LISTEN_FDS"] = str(len(fds))
os.execv(sys.argv[2], sys.argv[2:])
"""


def passed(socks, names, args):
    fds = [os.dup(s.fileno()) + 0 for s in socks]
    hi = []
    for k, fd in enumerate(fds):
        h = os.dup2(fd, 200 + k)
        os.close(fd)
        hi.append(h)
    env = {"LISTEN_FDNAMES": ":".join(names)}
    wrap = [sys.executable, "-c", WRAP, ",".join(map(str, hi))]
    n = Netd(args, env=env, wrap=wrap, pass_fds=hi)
    for h in hi:
        os.close(h)
    return n


def test_listen_fds_all_served():
    name = "@" + unique("lfd")
    path = f"/tmp/{unique('lfd')}.sock"
    a = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    a.bind(sock_addr(name))
    a.listen(8)
    b = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    b.bind(path)
    b.listen(8)
    n = passed([a, b], ["netd.socket", "netd.socket"], ["--socket", "@" + unique("unused")])
    a.close()
    b.close()
    n.socket = name
    n.wait_serving()
    n.wait_serving(path)
    for where in (name, path):
        c = Client(where)
        equal(c.call("ping"), {}, f"ping on {where}")
        c.close()
    err = n.stderr()
    check(f"serving {name} (from systemd, 'netd.socket')" in err, err)
    check(f"serving {path} (from systemd, 'netd.socket')" in err, err)
    check("serving 2 control sockets" in err, err)
    n.stop()
    check(os.path.exists(path), "netd removed a socket file systemd owns")
    os.unlink(path)
    # A passed descriptor that is not a listening unix stream socket stops netd.
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    n = passed([u], ["netd.socket"], [])
    u.close()
    equal(n.wait(), 1, "exit status with a datagram socket passed")
    check("is not a listening unix stream socket" in n.stderr(), n.stderr())


if __name__ == "__main__":
    try:
        run([test_notify_in_order, test_stuck_worker_stops_the_pings, test_journald_prefixes,
             test_listen_fds_all_served])
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        sys.exit(1)
