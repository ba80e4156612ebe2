#!/usr/bin/env python3
"""Grants: an allow rule of netd.conf that names what a caller could not do
alone (a privileged port, an abstract unix name, a unix path) lets it do that
through netd, and nothing else does. Checked with a real caller of an unused
uid and real peers.

netd runs as root with --allow-uid U and two control sockets (an abstract
name and a path). Root's peers in this test: a unix stream service in a
0700 root directory, abstract stream services under a granted and a not
granted prefix, a unix datagram socket under the granted prefix; each
records the SO_PEERCRED uid of what connects and echoes.

1. Without a rule U is refused a listen on a free port below 1024 (-32005,
   data.unprivileged_port_start, the port stays free), a listen on and a
   connect to an abstract name (-32005), and a connect to the root-only
   socket (-32000 EACCES); policy-explain says refused, no grant.
2. SIGHUP with a rule naming the low port, the abstract prefix and the root
   directory: U listens on 127.0.0.1:LOW (the listening socket is still U's
   in /proc/net/tcp) and a real peer connects and bytes flow; U binds a
   connect's source port LOW; U listens on an abstract name and a peer
   connects; U connects to the abstract service and to the root-only socket
   (their peer sees uid 0: the connect was netd's) and bytes flow; U listens
   on a path in the root directory (the file is made and removed at close);
   U sends a datagram to the granted abstract name. policy-explain says
   grant. Another low port, another abstract prefix and another root
   directory are refused as in 1.
3. netd's own control sockets stay out of reach with a rule naming them:
   by abstract name, by path, and through a link in the granted directory.
   A grant that names an address and an operation gives only those.
4. SIGHUP without the rule: everything of 2 is refused again (open handles
   stay).

Needs root (setuid children); exits 77 (skipped) without.
"""

import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from service_util import Failure, Netd, check, equal, need_netd, unique  # noqa: E402
from test_policy import Caller, config, unused_ids  # noqa: E402

SKIP = 77


class UnixPeer:
    """A root unix listener at @addr ("\\0name" or a path) that records each
    connecting peer's uid (SO_PEERCRED) and echoes what it reads."""

    def __init__(self, addr):
        self.ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.ls.bind(addr)
        self.ls.listen(8)
        self.uids = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            cred = c.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            self.uids.append(struct.unpack("3i", cred)[1])
            threading.Thread(target=self._echo, args=(c,), daemon=True).start()

    @staticmethod
    def _echo(c):
        while True:
            try:
                d = c.recv(65536)
            except OSError:
                break
            if not d:
                break
            c.sendall(d)
        c.close()

    def close(self):
        self.ls.close()


def free_low_ports(n):
    """@n ports below 1024 that nothing uses on 127.0.0.1 now."""
    found = []
    for p in range(990, 800, -1):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
            found.append(p)
        except OSError:
            pass
        finally:
            s.close()
        if len(found) == n:
            return found
    raise Failure("no free port below 1024 on 127.0.0.1")


def tcp_listener_uid(port):
    """The uid /proc/net/tcp shows for the socket listening on 127.0.0.1:@port."""
    want = "0100007F:%04X" % port
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if cols[1] == want and cols[3] == "0A":
                return int(cols[7])
    return None


def wait_for(what, pred, timeout=10):
    deadline = time.monotonic() + timeout
    while not pred():
        check(time.monotonic() < deadline, f"never: {what}")
        time.sleep(0.02)


def main():
    need_netd()
    if os.geteuid() != 0:
        print("SKIP: needs root (setuid children)")
        return SKIP
    if int(open("/proc/sys/net/ipv4/ip_unprivileged_port_start").read()) < 1000:
        print("SKIP: ip_unprivileged_port_start is below 1000 here: no port is privileged")
        return SKIP
    (U,) = unused_ids(1)
    tmp = tempfile.mkdtemp(prefix="netd-grants-")
    os.chmod(tmp, 0o755)
    rootdir = os.path.join(tmp, "root-only")
    otherdir = os.path.join(tmp, "root-other")
    for d in (rootdir, otherdir):
        os.mkdir(d)
        os.chmod(d, 0o700)
    tag = unique("grants")
    ctl = "@" + tag + "-ctl"
    ctl_path = os.path.join(tmp, "ctl.sock")
    granted = tag + "-granted-"  # the abstract prefix the rule names (without '@')
    low, other_low, addr_low = free_low_ports(3)
    svc_path = os.path.join(rootdir, "svc.sock")
    other_svc_path = os.path.join(otherdir, "svc.sock")
    peers = [UnixPeer(svc_path), UnixPeer(other_svc_path), UnixPeer("\0" + granted + "svc"),
             UnixPeer("\0" + tag + "-other-svc")]
    svc, other_svc, asvc, other_asvc = peers
    dg = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dg.bind("\0" + granted + "dgram")
    dg.settimeout(5)
    os.symlink(ctl_path, os.path.join(rootdir, "ctl-link.sock"))

    conf = os.path.join(tmp, "netd.conf")
    plain = f"[netd]\nallow-uid = {U}\n"
    grant = plain + f"""
; What uid {U} could not do alone, written out.
[rule grant-u]
uid = {U}
action = allow
ports = {low}
abstract = @{granted} {ctl}
paths = {rootdir}/ {ctl_path}

; A grant for one address and one operation only.
[rule grant-addr]
uid = {U}
action = allow
ops = listen
addresses = 127.0.0.2
ports = {addr_low}
"""
    config(conf, plain)
    netd = Netd(["--config", conf, "--socket", ctl, "--socket", ctl_path, "--workers", "2"],
                socket_name=ctl)
    u = None
    try:
        u = Caller(ctl[1:], U)

        def refused_before(phase):
            e = u.denied("listen", {"host": "127.0.0.1", "port": low}, None)
            equal(e.get("data"), {"unprivileged_port_start":
                                  int(open("/proc/sys/net/ipv4/ip_unprivileged_port_start").read())},
                  f"{phase}: data of the privileged listen's denial")
            check("privileged" in e["message"], e["message"])
            s = socket.socket()
            s.bind(("127.0.0.1", low))  # netd did not take the port
            s.close()
            e = u.denied("listen", {"path": "@" + granted + "x"}, None)
            check("abstract" in e["message"], e["message"])
            n = len(asvc.uids)
            e = u.denied("connect", {"path": "@" + granted + "svc"}, None)
            check("abstract" in e["message"], e["message"])
            e = u.ask("connect", {"path": svc_path})["error"]
            equal((e["code"], e["data"]), (-32000, {"errno": "EACCES"}),
                  f"{phase}: connect to the root-only socket")
            equal(svc.uids, [] if phase == "without a rule" else [0], f"{phase}: svc's peers")
            equal(len(asvc.uids), n, f"{phase}: connections the abstract service saw")
            x = u.ok("policy-explain", {"method": "listen",
                                        "params": {"host": "127.0.0.1", "port": low}})
            equal((x["allowed"], x["grant"], x["addresses"][0].get("refused")),
                  (False, False, "privileged port"), f"{phase}: explain the privileged listen")
            x = u.ok("policy-explain", {"method": "connect",
                                        "params": {"path": "@" + granted + "svc"}})
            equal((x["allowed"], x["grant"], x["addresses"][0].get("refused")),
                  (False, False, "abstract name"), f"{phase}: explain the abstract connect")

        # 1. No rule: refused, as netd always did.
        refused_before("without a rule")
        print("ok: without a rule a privileged port, abstract names and a root-only path are "
              "refused")

        # 2. A rule naming them: granted.
        config(conf, grant)
        netd.signal(signal.SIGHUP)
        wait_for("the reload with the grant", lambda: u.ok("policy-explain", {
            "method": "listen", "params": {"host": "127.0.0.1", "port": low}})["grant"])
        x = u.ok("policy-explain", {"method": "listen",
                                    "params": {"host": "127.0.0.1", "port": low}})
        equal((x["allowed"], x["rule"], x["grant"]), (True, "grant-u", True),
              "explain the granted listen")
        for path in ("@" + granted + "svc", svc_path):
            x = u.ok("policy-explain", {"method": "connect", "params": {"path": path}})
            equal((x["allowed"], x["rule"], x["grant"], x["addresses"][0]["grant"]),
                  (True, "grant-u", True, True), f"explain the granted connect to {path}")
        x = u.ok("policy-explain", {"method": "connect", "params": {"path": other_svc_path}})
        equal((x["allowed"], x["grant"]), (True, False), "explain a path the rule does not name")
        netctl = os.environ.get("NETCTL_BIN")
        if netctl:
            for port, want in ((low, "grant"), (other_low, "refused: privileged port")):
                out = subprocess.run([netctl, "--socket", ctl, "policy", "explain", "listen",
                                      "127.0.0.1", str(port), "--uid", str(U)],
                                     capture_output=True, text=True, timeout=10).stdout
                check(want in out, f"netctl policy explain listen {port}: {out!r}")

        # A listener on the privileged port: the bind alone was netd's, the socket is U's.
        ls = u.ok("listen", {"host": "127.0.0.1", "port": low})["handle"]
        equal(tcp_listener_uid(low), U, "the owner of the socket listening on the low port")
        peer = socket.create_connection(("127.0.0.1", low), timeout=5)
        c = u.ok("accept", {"handle": ls, "timeout": 10})["handle"]
        peer.sendall(b"to U")
        equal(u.ok("chunk", {"handle": c, "nbytes": 4, "encoding": "utf8"})["data"], "to U",
              "bytes from the peer of the low port")
        u.ok("write", {"handle": c, "data": "from U", "encoding": "utf8"})
        equal(peer.recv(6), b"from U", "bytes to the peer of the low port")
        peer.close()
        u.ok("close", {"handle": c})
        u.ok("close", {"handle": ls})
        # connect's bindport: a privileged source port, bound as netd.
        src = socket.socket()
        src.bind(("127.0.0.1", 0))
        src.listen(1)
        h = u.ok("connect", {"host": "127.0.0.1", "port": src.getsockname()[1],
                             "bindhost": "127.0.0.1", "bindport": low})["handle"]
        got, addr = src.accept()
        equal(addr[1], low, "the source port a granted bindport gave")
        got.close()
        src.close()
        u.ok("close", {"handle": h})
        # Another low port is not granted.
        e = u.denied("listen", {"host": "127.0.0.1", "port": other_low}, None)
        check("privileged" in e["message"], e["message"])
        e = u.denied("connect", {"host": "127.0.0.1", "port": 9, "bindport": other_low}, None)
        check("privileged" in e["message"], e["message"])
        # A grant for 127.0.0.2 and listen only: not for another address, nor for a bind.
        e = u.denied("listen", {"host": "127.0.0.1", "port": addr_low}, "default")
        check("privileged" in e["message"] and "127.0.0.1" in e["message"], e["message"])
        ls = u.ok("listen", {"host": "127.0.0.2", "port": addr_low})["handle"]
        peer = socket.create_connection(("127.0.0.2", addr_low), timeout=5)
        c = u.ok("accept", {"handle": ls, "timeout": 10})["handle"]
        peer.close()
        u.ok("close", {"handle": c})
        u.ok("close", {"handle": ls})
        e = u.denied("connect", {"host": "127.0.0.1", "port": 9, "bindhost": "127.0.0.2",
                                 "bindport": addr_low}, None)
        check("privileged" in e["message"], e["message"])
        print("ok: a granted low port: listen (the socket stays U's), a peer connects, bytes "
              "flow; bindport; another low port, another address, another operation are "
              "refused")

        # An abstract name: listen and a peer connects; connect to the service.
        al = u.ok("listen", {"path": "@" + granted + "listen"})["handle"]
        peer = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        peer.settimeout(5)
        peer.connect("\0" + granted + "listen")
        c = u.ok("accept", {"handle": al, "timeout": 10})["handle"]
        peer.sendall(b"abstract")
        equal(u.ok("chunk", {"handle": c, "nbytes": 8, "encoding": "utf8"})["data"], "abstract",
              "bytes from the peer of the abstract listener")
        peer.close()
        u.ok("close", {"handle": c})
        a = u.ok("connect", {"path": "@" + granted + "svc"})["handle"]
        u.ok("write", {"handle": a, "data": "echo me", "encoding": "utf8"})
        equal(u.ok("chunk", {"handle": a, "nbytes": 7, "encoding": "utf8"})["data"], "echo me",
              "bytes through the granted abstract connect")
        equal(asvc.uids, [0], "the uid the abstract service saw (netd's: the connect was netd's)")
        e = u.denied("connect", {"path": "@" + tag + "-other-svc"}, None)
        check("abstract" in e["message"], e["message"])
        u.denied("listen", {"path": "@" + tag + "-other-listen"}, None)
        equal(other_asvc.uids, [], "connections the abstract service outside the grant saw")
        print("ok: a granted abstract prefix: listen and connect, bytes flow; another prefix is "
              "refused")

        # The root-only socket: connect, bytes flow; the other root directory stays closed.
        p = u.ok("connect", {"path": svc_path})["handle"]
        u.ok("write", {"handle": p, "data": "root-only", "encoding": "utf8"})
        equal(u.ok("chunk", {"handle": p, "nbytes": 9, "encoding": "utf8"})["data"], "root-only",
              "bytes through the granted path")
        equal(svc.uids, [0], "the uid the root-only service saw")
        e = u.ask("connect", {"path": other_svc_path})["error"]
        equal((e["code"], e["data"]), (-32000, {"errno": "EACCES"}),
              "connect to a root-only socket the rule does not name")
        equal(other_svc.uids, [], "connections the other root-only service saw")
        # A listener on a path in the root directory: netd makes the file and removes it.
        lp = os.path.join(rootdir, "u-listen.sock")
        pl = u.ok("listen", {"path": lp})["handle"]
        st = os.lstat(lp)
        check(stat.S_ISSOCK(st.st_mode), f"{lp} is a socket")
        peer = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        peer.settimeout(5)
        peer.connect(lp)
        c = u.ok("accept", {"handle": pl, "timeout": 10})["handle"]
        peer.sendall(b"path")
        equal(u.ok("chunk", {"handle": c, "nbytes": 4, "encoding": "utf8"})["data"], "path",
              "bytes from the peer of the granted path listener")
        peer.close()
        u.ok("close", {"handle": c})
        u.ok("close", {"handle": pl})
        check(not os.path.lexists(lp), f"{lp} was left after close")
        e = u.ask("listen", {"path": os.path.join(otherdir, "u.sock")})["error"]
        equal((e["code"], e["data"]), (-32000, {"errno": "EACCES"}),
              "listen in a root directory the rule does not name")
        # send-to an abstract datagram socket under the prefix.
        d = u.ok("listen", {"path": "@" + granted + "u-dgram", "type": "datagram"})["handle"]
        w = u.ok("send-to", {"handle": d, "dest": {"path": "@" + granted + "dgram"},
                             "data": "datagram", "encoding": "utf8"})
        equal(w["written"], 8, "send-to the granted abstract name")
        equal(dg.recv(100), b"datagram", "the datagram the granted send-to sent")
        e = u.denied("send-to", {"handle": d, "dest": {"path": "@" + tag + "-other-dgram"},
                                 "data": "x", "encoding": "utf8"}, None)
        check("abstract" in e["message"], e["message"])
        u.ok("close", {"handle": d})
        print("ok: a granted root directory: connect, bytes flow; listen makes and removes the "
              "file; send-to a granted name; another root directory is refused")

        # 3. netd's own control sockets, named by the rule: still refused.
        for path in (ctl, ctl_path, os.path.join(rootdir, "ctl-link.sock")):
            e = u.denied("connect", {"path": path}, None)
            check("control socket" in e["message"], f"connect to {path}: {e['message']}")
            e = u.denied("address", {"path": path}, None)
            check("control socket" in e["message"], f"address of {path}: {e['message']}")
        x = u.ok("policy-explain", {"method": "connect", "params": {"path": ctl}})
        equal((x["allowed"], x["grant"], x["addresses"][0].get("refused")),
              (False, False, "control socket"), "explain a connect to the control socket")
        print("ok: netd's control sockets stay refused with a rule naming them")

        # 4. The rule removed at a reload: refused again; the granted stream stays.
        config(conf, plain)
        netd.signal(signal.SIGHUP)
        wait_for("the reload without the grant", lambda: not u.ok("policy-explain", {
            "method": "listen", "params": {"host": "127.0.0.1", "port": low}})["allowed"])
        refused_before("after the rule was removed")
        u.ok("write", {"handle": p, "data": "still", "encoding": "utf8"})
        equal(u.ok("chunk", {"handle": p, "nbytes": 5, "encoding": "utf8"})["data"], "still",
              "the granted stream after the reload")
        print("ok: after SIGHUP without the rule all of it is refused again; open handles stay")
        u.close()
        u = None
    except (Failure, OSError, KeyError) as e:
        print(f"FAIL: {e!r}\n--- netd's log:\n{netd.stderr()}", file=sys.stderr)
        netd.proc.kill()
        netd.proc.wait()
        return 1
    finally:
        if u:
            u.proc.kill()
            u.proc.wait()
        for p in peers:
            p.close()
        dg.close()
    netd.stop()
    shutil.rmtree(tmp)
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
