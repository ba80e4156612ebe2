#!/usr/bin/env python3
"""Kept handles survive a restart (issue 10, item 9): the test plays systemd.

A real NOTIFY_SOCKET datagram listener collects what netd stores at its stop
(FDSTORE=1 with FDNAME=, the descriptors with SCM_RIGHTS), every message
checked in order. Then a new netd starts with those descriptors in
LISTEN_FDS (at 3..., in another order, LISTEN_PID its own pid, their names
in LISTEN_FDNAMES), and the kept handles are used byte-exact against real
peers: a TCP stream with bytes both ways (including bytes the peer sent
before the restart that netd had read ahead, and bytes partial writes had
accepted that the peer had not taken yet), a listener that accepts after
the restart (a connection waiting in its backlog, and a new one), a unix
path listener whose file stays, a datagram socket, an address handle. TLS
handles come back closed with a `closed {handle, reason: "restart"}` to
the owner's next connection; a handle that was not kept does not come back;
new handles never reuse a stored name. A second restart, with the control
socket passed by "systemd" too, shows the state carries on.
"""

import base64
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from service_util import (Client, Failure, Netd, NotifySocket, check, equal,  # noqa: E402
                          pattern, read_exactly, run, sock_addr, unique)

# Puts the descriptors given at 3, 4 ... and sets LISTEN_PID to the pid
# that execs netd, as systemd does; LISTEN_FDS and LISTEN_FDNAMES come in
# the environment already.
WRAP = r"""
import os, sys
fds = [int(x) for x in sys.argv[1].split(",")]
for i, fd in enumerate(fds):
    os.dup2(fd, 3 + i)
    os.set_inheritable(3 + i, True)
for fd in fds:
    if fd >= 3 + len(fds):
        os.close(fd)
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[2], sys.argv[2:])
"""


def start_with_fds(args, env, fds, names):
    """A netd that finds @fds at 3... named @names, as after a restart."""
    high = []
    for k, fd in enumerate(fds):
        high.append(os.dup2(fd, 300 + k))
    env = dict(env, LISTEN_FDS=str(len(fds)), LISTEN_FDNAMES=":".join(names))
    wrap = [sys.executable, "-c", WRAP, ",".join(map(str, high))]
    n = Netd(args, env=env, wait=False, pass_fds=high, wrap=wrap)
    for fd in high:
        os.close(fd)
    return n


def b64(data):
    return base64.b64encode(data).decode()


def sock_kind(fd):
    s = socket.socket(fileno=os.dup(fd))
    try:
        acc = s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        return "listener" if acc else ("datagram" if s.type == socket.SOCK_DGRAM else "stream")
    finally:
        s.close()


def fionread(fd):
    import fcntl
    import termios
    import array
    buf = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, buf)
    return buf[0]


def name_key(name):
    w, seq = name[1:].split(".")
    return int(w), int(seq, 16)


class Store:
    """systemd's descriptor store, as far as the test needs it."""

    def __init__(self, ns):
        self.ns = ns
        self.seen = 0
        self.fds = {}  # name -> fd

    def new_messages(self, timeout=0.3):
        self.ns.poll(timeout)
        got = [m for m in self.ns.messages[self.seen:]
               if m[1] != "WATCHDOG=1" and not m[1].startswith("STATUS=")]
        for m in self.ns.messages[self.seen:]:
            if m[1] == "WATCHDOG=1" or m[1].startswith("STATUS="):
                check(not m[2], f"descriptors with {m[1]!r}")
        self.seen = len(self.ns.messages)
        return got

    def take_stop(self, want_names):
        """The messages of a stop, in order: STOPPING=1, the state, then one
        descriptor per carried handle in the order of their names."""
        got = self.new_messages()
        texts = [m[1] for m in got]
        equal(texts[0], "STOPPING=1", "the stop's first message")
        check(not got[0][2], "descriptors with STOPPING=1")
        equal(texts[1], "FDSTORE=1\nFDNAME=netd-state\nFDPOLL=0", "the state comes first")
        equal(len(got[1][2]), 1, "descriptors with the state")
        state = json.loads(os.pread(got[1][2][0], 1 << 24, 0))
        self.fds["netd-state"] = got[1][2][0]
        names = []
        for text, fds in [(m[1], m[2]) for m in got[2:]]:
            head, _, rest = text.partition("\n")
            equal(head, "FDSTORE=1", f"message {text!r}")
            check(rest.startswith("FDNAME=") and rest.endswith("\nFDPOLL=0"), text)
            name = rest[len("FDNAME="):-len("\nFDPOLL=0")]
            equal(len(fds), 1, f"descriptors with {name}")
            check(name not in self.fds, f"{name} stored twice")
            self.fds[name] = fds[0]
            names.append(name)
        equal(names, sorted(names, key=name_key), "descriptors in the order of their names")
        equal(sorted(names, key=name_key), sorted(want_names, key=name_key), "names stored")
        return state

    def take_start(self):
        """A new netd takes what was stored, then asks systemd to forget it,
        before it says READY=1."""
        self.ns.wait_for(lambda t: t == "READY=1" and
                         [m[1] for m in self.ns.messages[self.seen:]].count("READY=1") >= 1,
                         what="READY=1 of the new netd")
        got = [m for m in self.new_messages(0.05)]
        texts = [m[1] for m in got]
        equal(texts[-1], "READY=1", "the start's last message")
        removed = [t for t in texts[:-1]]
        for t in removed:
            check(t.startswith("FDSTOREREMOVE=1\nFDNAME="), f"before READY=1: {t!r}")
        names = [t.split("FDNAME=", 1)[1] for t in removed]
        equal(sorted(names), sorted(self.fds), "names removed from the store")
        for fd in self.fds.values():
            os.close(fd)
        self.fds = {}


class TlsServer:
    """A TLS echo server (Python's ssl) with a fresh self-signed certificate."""

    def __init__(self, tmp):
        self.cert, self.key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", self.key, "-out",
                        self.cert, "-subj", "/CN=localhost", "-days", "2", "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(self.cert, self.key)
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(4)
        self.port = self.srv.getsockname()[1]
        self.ended = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        conn, _ = self.srv.accept()
        try:
            with self.ctx.wrap_socket(conn, server_side=True) as t:
                while True:
                    b = t.recv(4096)
                    if not b:
                        break
                    t.sendall(b)
        except (OSError, ssl.SSLError):
            pass
        self.ended.set()


def wait_readable(c, h, n, what):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if c.call("status", {"handle": h})["readable"] >= n:
            return
        time.sleep(0.02)
    raise Failure(f"{what}: netd never had {n} bytes readable")


def fill_partial(c, h):
    """Partial writes until netd holds bytes the peer has not taken; returns
    every byte netd accepted, in order."""
    sent = b""
    chunk = pattern(65536, seed=7)
    for _ in range(2000):
        r = c.call("write", {"handle": h, "data": b64(chunk), "partial": True})
        sent += chunk[:r["written"]]
        if c.call("pending", {"handle": h})["bytes"] > 0 and r["written"] < len(chunk):
            return sent
    raise Failure("the peer's socket never filled up")


def test_restart():
    tmp = tempfile.mkdtemp(prefix="netd-restart-")
    ns = NotifySocket()
    store = Store(ns)
    name = "@" + unique("restart")
    args = ["--socket", name, "--workers", "2", "--max-buffer", "4096", "--drain-timeout",
            "20"]
    a = Netd(args, env=ns.env(), socket_name=name)
    ns.wait_for(lambda t: t == "READY=1", what="READY=1")
    store.new_messages(0.05)
    cs = [Client(name), Client(name)]  # one connection on each worker

    # A TCP peer that does not read until told: the stream's bytes both ways.
    peer_srv = socket.socket()
    peer_srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    peer_srv.bind(("127.0.0.1", 0))
    peer_srv.listen(4)
    s = cs[0].call("connect", {"host": "127.0.0.1", "port": peer_srv.getsockname()[1],
                               "keep": True})["handle"]
    peer, _ = peer_srv.accept()
    cs[0].call("setsockopt", {"handle": s, "option": "so-rcvtimeo", "value": 7})
    before = pattern(10000, seed=1)
    peer.sendall(before)
    wait_readable(cs[0], s, 10000, "stream")
    equal(read_exactly(cs[0], s, 1000), before[:1000], "the first bytes")
    time.sleep(0.2)  # netd reads ahead (up to --max-buffer) on a kept stream
    accepted = fill_partial(cs[0], s)

    # A listener with a connection waiting in its backlog.
    lst = cs[1].call("listen", {"host": "127.0.0.1", "port": 0, "keep": True})["handle"]
    lport = cs[1].call("localname", {"handle": lst})["port"]
    early = socket.create_connection(("127.0.0.1", lport))
    early.sendall(b"early bird")
    path = os.path.join(tmp, "kept.sock")
    ulst = cs[0].call("listen", {"path": path, "keep": True})["handle"]

    # A datagram socket with a datagram waiting, and an address handle.
    udp_peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp_peer.bind(("127.0.0.1", 0))
    udp_peer.settimeout(5)
    d = cs[1].call("listen", {"host": "127.0.0.1", "port": 0, "type": "datagram",
                              "keep": True})["handle"]
    dport = cs[1].call("localname", {"handle": d})["port"]
    udp_peer.sendto(b"sent before the restart", ("127.0.0.1", dport))
    addr = cs[0].call("address", {"host": "127.0.0.1", "port": udp_peer.getsockname()[1],
                                  "type": "datagram", "keep": True})["handle"]

    # TLS: a kept stream and a kept listener, which cannot be carried.
    tls = TlsServer(tmp)
    t = cs[1].call("connect", {"host": "127.0.0.1", "port": tls.port, "keep": True,
                               "tls": {"cafile": tls.cert}})["handle"]
    cs[1].call("write", {"handle": t, "data": b64(b"ping")})
    equal(read_exactly(cs[1], t, 4), b"ping", "TLS echo")
    tl = cs[0].call("listen", {"host": "127.0.0.1", "port": 0, "keep": True,
                               "tls": {"cert": tls.cert, "key": tls.key}})["handle"]
    # Not kept: ends with its connection, and with netd.
    gone = cs[0].call("connect", {"host": "127.0.0.1", "port": peer_srv.getsockname()[1]})[
        "handle"]
    peer_srv.accept()[0].close()

    carried = [s, lst, ulst, d]
    workers = {name_key(h)[0] for h in carried + [addr, t, tl]}
    equal(workers, {0, 1}, "handles on both workers")
    for c in cs:
        c.close()

    # The bytes the peer has not taken go with the stream: the stop does not
    # wait --drain-timeout for them.
    t0 = time.monotonic()
    a.signal(signal.SIGTERM)
    equal(a.wait(), 0, "the old netd's exit status")
    check(time.monotonic() - t0 < 5, f"the stop took {time.monotonic() - t0:.1f} s")
    err = a.stderr()
    check("netd: leak:" not in err, err)
    check("still had bytes to send" not in err, err)
    check("restart: 5 kept handles handed to systemd's store (4 descriptors), 2 to come back "
          "closed" in err, f"the store is logged:\n{err}")
    check(os.path.exists(path), "the kept unix listener's file stays over the restart")
    state = store.take_stop(carried)
    for h in carried:
        rec = [r for r in state["handles"] if r["handle"] == h][0]
        equal(sock_kind(store.fds[h]), rec["kind"], f"the descriptor stored for {h}")
        check(rec["fd"], f"{h} goes with its descriptor")
    equal(sorted(r["handle"] for r in state["handles"]), sorted(carried + [addr]),
          "handles in the state")
    equal(sorted(x["handle"] for x in state["lost"]), sorted([t, tl]), "lost handles")
    # The bytes netd had read ahead are in the state, the rest still in the kernel.
    rbuf = base64.b64decode([r for r in state["handles"] if r["handle"] == s][0]["rbuf"])
    check(len(rbuf) > 0, "netd had read ahead")
    equal(rbuf, before[1000:1000 + len(rbuf)], "the bytes read ahead")
    equal(fionread(store.fds[s]), 9000 - len(rbuf), "bytes left in the kernel")

    # The new netd: fewer workers asked, the stored descriptors in reverse order.
    order = list(reversed(sorted(store.fds)))
    ns_b = ns
    b = start_with_fds(["--socket", name, "--workers", "1"], ns_b.env(),
                       [store.fds[k] for k in order], order)
    store.take_start()
    c = Client(name)
    note = c.notification("closed")
    equal(note["params"]["reason"], "restart", "reason")
    note2 = c.notification("closed")
    equal(sorted([note["params"]["handle"], note2["params"]["handle"]]), sorted([t, tl]),
          "closed notifications for the TLS handles")
    check("restart: 2 workers, not 1, for the kept handles" in b.stderr(), b.stderr())
    for h in (t, tl, gone):
        equal(c.error("status", {"handle": h})["code"], -32002, f"{h} after the restart")

    # The stream: what netd had buffered, then what the kernel held, byte-exact.
    equal(read_exactly(c, s, 9000), before[1000:], "the peer's bytes from before the restart")
    st = c.call("status", {"handle": s})
    check(st["kept"] and st["bytes_in"] == 10000, f"the stream's status: {st}")
    # Bytes partial writes had accepted reach the peer, then new ones.
    wid = c.send("write", {"handle": s, "data": b64(b"after the restart")})  # behind them
    want = accepted + b"after the restart"
    got = b""
    peer.settimeout(5)
    while len(got) < len(want):
        try:
            chunk = peer.recv(65536)
        except socket.timeout:
            raise Failure(f"the peer received {len(got)} of {len(want)} bytes, then nothing")
        check(chunk, f"the peer's stream ended after {len(got)} of {len(want)} bytes")
        got += chunk
    equal(len(got), len(want), "bytes the peer received")
    equal(c.answer(wid).get("result"), {"written": 17}, "the write after the restart")
    check(got == want, "the peer received every accepted byte, in order")
    peer.sendall(b"and back")
    equal(read_exactly(c, s, 8), b"and back", "the peer's bytes after the restart")
    # The handle's own settings came along.
    equal(c.call("getsockopt", {"handle": s, "option": "so-rcvtimeo"})["value"], 7, "so-rcvtimeo")

    # The listener: the connection from its backlog, and a new one.
    h1 = c.call("accept", {"handle": lst, "timeout": 5, "keep": True})["handle"]
    equal(read_exactly(c, h1, 10), b"early bird", "the backlog's connection")
    late = socket.create_connection(("127.0.0.1", lport))
    h2 = c.call("accept", {"handle": lst, "timeout": 5})["handle"]
    c.call("write", {"handle": h2, "data": b64(b"hello late")})
    late.settimeout(5)
    equal(late.recv(100), b"hello late", "a connection accepted after the restart")
    u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    u.connect(path)
    h3 = c.call("accept", {"handle": ulst, "timeout": 5, "keep": True})["handle"]
    u.sendall(b"unix")
    equal(read_exactly(c, h3, 4), b"unix", "the unix listener after the restart")

    # The datagram socket and the address handle.
    r = c.call("recv-from", {"handle": d, "nbytes": 100, "timeout": 5})
    equal(base64.b64decode(r["data"]), b"sent before the restart", "the waiting datagram")
    equal(r["from"]["port"], udp_peer.getsockname()[1], "its sender")
    un = c.call("address-unpack", {"handle": addr})
    equal((un["host"], un["port"]), ("127.0.0.1", udp_peer.getsockname()[1]), "the address")
    c.call("send-to", {"handle": d, "dest": addr, "data": b64(b"to the address handle")})
    data, frm = udp_peer.recvfrom(100)
    equal((data, frm[1]), (b"to the address handle", dport), "a datagram sent to the address")

    # New handles continue past every stored counter, on both workers.
    c2 = Client(name)
    new = [h1, h2, h3]
    for cl in (c, c2):
        for _ in range(3):
            new.append(cl.call("address", {"host": "127.0.0.1", "port": 1})["handle"])
    c2.close()  # its handles end with it
    stored = {h for h in carried + [addr, t, tl, gone]}
    for h in new:
        w, seq = name_key(h)
        check(h not in stored, f"{h} was a stored name")
        check(seq >= state["workers"][w], f"{h}: seq below worker {w}'s counter {state['workers']}")
    equal({name_key(h)[0] for h in new}, {0, 1}, "new handles on both workers")

    # A second restart, with the control socket passed by "systemd" too.
    c.call("write", {"handle": s, "data": b64(b"x")})
    peer.sendall(b"buffered again")
    wait_readable(c, s, 14, "stream")
    time.sleep(0.2)
    c.close()
    b.signal(signal.SIGTERM)
    equal(b.wait(), 0, "the second netd's exit status")
    check("netd: leak:" not in b.stderr(), b.stderr())
    state2 = store.take_stop(carried + [h1, h3])  # h2 was not kept
    equal(state2["lost"], [], "no owner left to tell")
    for w, n in enumerate(state["workers"]):
        check(state2["workers"][w] > n, f"counters go on: {state['workers']} {state2['workers']}")
    ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    name2 = "@" + unique("restart-ctl")
    ctl.bind(sock_addr(name2))
    ctl.listen(16)
    order = ["netd.socket"] + sorted(store.fds)
    fds = [ctl.fileno()] + [store.fds[k] for k in order[1:]]
    c3 = start_with_fds([], ns.env(), fds, order)
    store.take_start()
    cl = Client(name2)
    equal(read_exactly(cl, s, 14), b"buffered again", "the stream after two restarts")
    check(peer.recv(10) == b"x", "the peer's byte")
    equal(cl.error("status", {"handle": h2})["code"], -32002, "the accepted handle not kept")
    for h in carried + [addr, h1, h3]:
        cl.call("close", {"handle": h})
    # A carried unix listener keeps its socket file at close: netd removes a
    # file only through the directory its own bind opened (README).
    check(os.path.exists(path), "the carried listener's socket file is still there")
    os.unlink(path)
    cl.close()
    c3.stop()
    equal(store.take_stop([])["handles"], [], "nothing left to carry")
    for fd in store.fds.values():
        os.close(fd)
    ctl.close()
    ns.close()
    for x in (peer, peer_srv, early, late, u, udp_peer):
        x.close()
    a.log.close()
    os.unlink(a.log.name)
    b.log.close()
    os.unlink(b.log.name)
    shutil.rmtree(tmp)


def memfd_state(state):
    fd = os.memfd_create("netd-state")
    os.write(fd, json.dumps(state).encode() if not isinstance(state, bytes) else state)
    return fd


def removed_then_ready(ns, names):
    ns.wait_for(lambda t: t == "READY=1", what="READY=1")
    got = [m[1] for m in ns.messages if m[1] != "WATCHDOG=1" and not m[1].startswith("STATUS=")]
    equal(got[-1], "READY=1", "the last message")
    equal(sorted(got[:-1]), sorted(f"FDSTOREREMOVE=1\nFDNAME={n}" for n in names),
          "what netd asks systemd to forget")


def test_bad_state():
    """What netd cannot use from the store is closed and logged; the rest
    comes back, and netd serves either way."""
    import struct
    uid = os.getuid()
    sa = struct.pack("=H", socket.AF_INET) + struct.pack("!H", 4242) + \
        socket.inet_aton("127.0.0.7") + bytes(8)
    common = {"uid": uid, "type": socket.SOCK_STREAM, "rcvtimeo": 0, "sndtimeo": 0,
              "looped": False, "closed_told": False, "fd": False}
    state = {"netd": 1, "workers": [9], "lost": [], "handles": [
        dict(common, handle="h0.3", kind="address", hostname="seven",
             address={"addrs": [{"sa": b64(sa), "socktype": socket.SOCK_STREAM}]}),
        dict(common, handle="h0.4", kind="teapot"),
        dict(common, handle="h0.5", kind="stream", fd=True)]}
    stray = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    mfd = memfd_state(state)
    ns = NotifySocket()
    name = "@" + unique("badstate")
    n = start_with_fds(["--socket", name, "--workers", "1"], ns.env(), [mfd, stray.fileno()],
                       ["netd-state", "h0.8"])
    removed_then_ready(ns, ["netd-state", "h0.8"])
    c = Client(name)
    notes = sorted([c.notification("closed")["params"]["handle"] for _ in range(2)])
    equal(notes, ["h0.4", "h0.5"], "handles that came back closed")
    un = c.call("address-unpack", {"handle": "h0.3"})
    equal((un["host"], un["port"], un["hostname"]), ("127.0.0.7", 4242, "seven"), "the address")
    h = c.call("address", {"host": "127.0.0.1", "port": 1})["handle"]
    check(name_key(h)[1] >= 9, f"{h}: the stored counter was 9")
    c.call("close", {"handle": "h0.3"})
    c.close()
    err = n.stderr()
    for text in ("h0.4 cannot be made again (its kind is unknown)",
                 "h0.5 came without its descriptor",
                 "the stored descriptor 'h0.8' is not in the state; closed"):
        check(text in err, f"netd did not log {text!r}:\n{err}")
    n.stop()
    # A state that is not JSON, and descriptors without any state.
    for fds, names, why in (([memfd_state(b"{not json"), stray.fileno()], ["netd-state", "h0.1"],
                             "a state netd cannot read"),
                            ([stray.fileno()], ["h0.1"], "descriptors without their state")):
        ns2 = NotifySocket()
        n = start_with_fds(["--socket", name], ns2.env(), fds, names)
        removed_then_ready(ns2, names)
        c = Client(name)
        equal(c.error("status", {"handle": "h0.1"})["code"], -32002, "h0.1")
        c.close()
        check(f"restart: systemd passed {why}; no kept handle comes back" in n.stderr(),
              n.stderr())
        n.stop()
        ns2.close()
        if names[0] == "netd-state":
            os.close(fds[0])
    os.close(mfd)
    stray.close()
    ns.close()


def test_unit_has_a_store():
    """The shipped unit gives netd a store for all it may hand over: 4095
    handle descriptors (daemon/service/service.h) and the state."""
    import re
    unit = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "systemd",
                        "netd.service.in")
    with open(unit) as f:
        m = re.search(r"^FileDescriptorStoreMax=(\d+)$", f.read(), re.M)
    check(m, "netd.service has no FileDescriptorStoreMax=")
    equal(int(m.group(1)), 4096, "FileDescriptorStoreMax=")
    hdr = os.path.join(os.path.dirname(unit), "..", "daemon", "service", "service.h")
    with open(hdr) as f:
        equal(re.search(r"#define RESTART_MAX_FDS (\d+)", f.read()).group(1), "4095",
              "RESTART_MAX_FDS")


if __name__ == "__main__":
    run([test_unit_has_a_store, test_bad_state, test_restart])
