#!/usr/bin/env python3
"""The policy of netd.conf, checked with real callers of another uid.

netd runs as root with --allow-uid for two unused uids, in a private mount
namespace whose /etc/hosts makes both.netd-test resolve to 127.0.0.2 and
127.0.0.3 and three.netd-test to 127.0.0.3 only. The callers are child
processes running as those uids (one with a supplementary group), each
holding one control connection for as long as the test needs it. Peers
listen on both addresses, so a connection netd should not have made would
be seen arriving.

- connect to a name passes over the denied address like an unreachable one
  (the denied listener sees nothing); none allowed is -32005 denied with
  data.rule; an allowed address that refuses gives ECONNREFUSED, not denied;
- bindhost, listen and send-to ask the policy too; a group rule matches by
  a supplementary group (SO_PEERGROUPS);
- policy-explain answers as the calls decide, every address of the name,
  only root may ask about another uid;
- max-handles of a rule caps the uid, the error naming the rule;
- SIGHUP with a new policy changes later answers while an open connection
  keeps working; a file that does not parse is refused and the policy
  before it stays.

Needs root (setuid children, unshare, mount); exits 77 (skipped) without.
"""

import json
import os
import pwd
import grp
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from service_util import NETD, Failure, Netd, Client, check, equal, need_netd, unique  # noqa

SKIP = 77
# The callers' interpreter must be one another uid may run (not one under /root).
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

# A caller: relays request lines from the test to netd and the answers back,
# as the uid it runs as.
CHILD = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect("\0" + sys.argv[1])
f = s.makefile("rwb")
for line in sys.stdin.buffer:
    f.write(line); f.flush()
    sys.stdout.buffer.write(f.readline()); sys.stdout.flush()
"""


class Caller:
    """One control connection held by a process of @uid (and @groups)."""

    def __init__(self, sock, uid, groups=()):
        self.proc = subprocess.Popen([PYTHON, "-c", CHILD, sock], user=uid, group=uid,
                                     extra_groups=list(groups), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)
        self.next = 0

    def ask(self, method, params):
        self.next += 1
        msg = {"jsonrpc": "2.0", "id": self.next, "method": method, "params": params}
        self.proc.stdin.write(json.dumps(msg).encode() + b"\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        check(line, f"the caller's connection ended at {method}")
        return json.loads(line)

    def ok(self, method, params):
        a = self.ask(method, params)
        check("result" in a, f"{method} {params}: {a}")
        return a["result"]

    def denied(self, method, params, rule):
        a = self.ask(method, params)
        check("error" in a, f"{method} {params} should be denied by {rule}: {a}")
        e = a["error"]
        equal(e["code"], -32005, f"{method} {params}: code ({e['message']})")
        equal((e.get("data") or {}).get("rule"), rule, f"{method} {params}: data.rule")
        return e

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(10)


class Peer:
    """A TCP listener on @host that counts the connections it accepts and echoes."""

    def __init__(self, host, port=0):
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind((host, port))
        self.ls.listen(16)
        self.port = self.ls.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            self.accepted += 1
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


def unused_ids(n):
    ids, i = [], 61000
    while len(ids) < n:
        try:
            pwd.getpwuid(i)
        except KeyError:
            try:
                grp.getgrgid(i)
            except KeyError:
                ids.append(i)
        i += 1
    return ids


def free_port(host="127.0.0.1"):
    s = socket.socket()
    s.bind((host, 0))
    p = s.getsockname()[1]
    s.close()
    return p


def config(path, text):
    with open(path + ".new", "w") as f:
        f.write(text)
    os.replace(path + ".new", path)


def main():
    need_netd()
    if os.geteuid() != 0 or not shutil.which("unshare"):
        print("SKIP: needs root (setuid children, unshare, mount)")
        return SKIP
    U, U2, G = unused_ids(3)
    tmp = tempfile.mkdtemp(prefix="netd-policy-")
    os.chmod(tmp, 0o755)
    hosts = os.path.join(tmp, "hosts")
    with open(hosts, "w") as f:
        # The denied address first, so connect must pass over it to reach the other.
        f.write("127.0.0.1 localhost\n127.0.0.3 both.netd-test\n127.0.0.2 both.netd-test\n"
                "127.0.0.3 three.netd-test\n")
    a2, a3 = Peer("127.0.0.2"), Peer("127.0.0.3")
    port = a2.port
    a3.close()
    a3 = Peer("127.0.0.3", port)  # the same port on both addresses
    udp2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp2.bind(("127.0.0.2", 0))
    udp2.settimeout(5)
    deny_listen = free_port()
    low = 1000 if int(open("/proc/sys/net/ipv4/ip_unprivileged_port_start").read()) > 1000 else 0
    conf = os.path.join(tmp, "netd.conf")
    first = f"""[netd]
allow-uid = {U}
allow-uid = {U2}

[rule no-three]
uid = {U}
action = deny
addresses = 127.0.0.3/32

[rule group-no-port]
group = {G}
action = deny
ports = {port}

[rule no-listen]
uid = {U}
action = deny
ops = listen
ports = {deny_listen}

[rule low-port]
uid = {U}
action = allow
ops = listen bind
ports = {low or 1}
abstract = @granted-

[rule cap]
uid = {U2}
max-handles = 2
max-memory = 1048576
"""
    config(conf, first)
    sock = unique("policy")
    wrap = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', hosts]
    netd = Netd(["--config", conf, "--socket", "@" + sock, "--workers", "2"], socket_name="@" + sock,
                wrap=wrap)
    callers = []
    try:
        u = Caller(sock, U)
        callers.append(u)
        t0 = time.monotonic()

        # A name with an allowed and a denied address: only the allowed one is reached.
        h = u.ok("connect", {"host": "both.netd-test", "port": port})["handle"]
        peer = u.ok("peername", {"handle": h})
        equal(peer["host"], "127.0.0.2", "connect of both.netd-test reached")
        equal(a3.accepted, 0, "connections the denied 127.0.0.3 saw")
        u.ok("write", {"handle": h, "data": "before reload", "encoding": "utf8"})
        got = u.ok("chunk", {"handle": h, "nbytes": 13, "encoding": "utf8"})
        equal(got["data"], "before reload", "echo through the allowed connection")
        # Only denied addresses: the denial, naming the rule; nothing reaches the peer.
        e = u.denied("connect", {"host": "three.netd-test", "port": port}, "no-three")
        check("127.0.0.3" in e["message"] and "no-three" in e["message"], e["message"])
        u.denied("connect", {"host": "127.0.0.3", "port": port}, "no-three")
        equal(a3.accepted, 0, "connections the denied 127.0.0.3 saw")
        # connect's bind address is asked about as a bind.
        u.denied("connect", {"host": "127.0.0.2", "port": port, "bindhost": "127.0.0.3"},
                 "no-three")
        # Another uid is not selected by the uid rules.
        u2 = Caller(sock, U2)
        callers.append(u2)
        h2 = u2.ok("connect", {"host": "three.netd-test", "port": port, "keep": False})["handle"]
        equal(u2.ok("peername", {"handle": h2})["host"], "127.0.0.3", "U2's connect")
        u2.ok("close", {"handle": h2})
        deadline = time.monotonic() + 10
        while a3.accepted != 1 and time.monotonic() < deadline:
            time.sleep(0.01)  # the peer's accept thread may not have run yet
        check(a3.accepted == 1, f"127.0.0.3 saw {a3.accepted} connections, wanted U2's one")
        print("ok: connect passes over denied addresses; all denied is -32005 with data.rule")

        # A group rule matches by a supplementary group, not only the primary one.
        ug = Caller(sock, U2, groups=[G])
        callers.append(ug)
        ug.denied("connect", {"host": "127.0.0.2", "port": port}, "group-no-port")
        ug.close()
        callers.remove(ug)
        print("ok: a group rule matches a supplementary group")

        # listen and send-to.
        u.denied("listen", {"host": "127.0.0.1", "port": deny_listen}, "no-listen")
        s = socket.socket()
        s.bind(("127.0.0.1", deny_listen))  # netd did not take the port
        s.close()
        d = u.ok("listen", {"host": "127.0.0.1", "port": 0, "type": "datagram"})["handle"]
        u.denied("send-to", {"handle": d, "dest": {"host": "127.0.0.3", "port": 9},
                             "data": "x", "encoding": "utf8"}, "no-three")
        dest = {"host": "127.0.0.2", "port": udp2.getsockname()[1]}
        w = u.ok("send-to", {"handle": d, "dest": dest, "data": "dgram", "encoding": "utf8"})
        equal(w["written"], 5, "send-to an allowed address")
        equal(udp2.recvfrom(100)[0], b"dgram", "the datagram sent to 127.0.0.2")
        print("ok: listen, bind and send-to ask the policy")

        # policy-explain answers as the calls decide.
        x = u.ok("policy-explain", {"method": "connect",
                                    "params": {"host": "both.netd-test", "port": port}})
        equal(x["allowed"], True, "explain both.netd-test")
        equal(x["rule"], "default", "explain both.netd-test: the deciding rule")
        verdicts = [(a["host"], a["allowed"], a["rule"]) for a in x["addresses"]]
        equal(verdicts, [("127.0.0.3", False, "no-three"), ("127.0.0.2", True, "default")],
              "explain: every address of both.netd-test, in the order connect tries them")
        x = u.ok("policy-explain", {"method": "connect",
                                    "params": {"host": "three.netd-test", "port": port}})
        equal((x["allowed"], x["rule"]), (False, "no-three"), "explain three.netd-test")
        x = u.ok("policy-explain", {"method": "connect", "params": {
            "host": "127.0.0.2", "port": port, "bindhost": "127.0.0.3"}})
        equal((x["allowed"], x["rule"], x["bind"]["rule"]), (False, "no-three", "no-three"),
              "explain a denied bind")
        x = u.ok("policy-explain", {"method": "send-to",
                                    "params": {"dest": {"host": "127.0.0.3", "port": 9}}})
        equal((x["allowed"], x["rule"]), (False, "no-three"), "explain send-to")
        if low:
            x = u.ok("policy-explain", {"method": "listen", "params": {"port": low}})
            equal((x["allowed"], x["rule"]), (True, "low-port"), "a privileged port granted")
            x = u.ok("policy-explain", {"method": "listen", "params": {"port": low + 1}})
            equal(x["rule"], "default", "a privileged port not named by the grant")
        x = u.ok("policy-explain", {"method": "listen", "params": {"path": "@granted-x"}})
        equal((x["allowed"], x["rule"]), (True, "low-port"), "an abstract name granted")
        # Only root asks about another uid; root's answer about U is U's own.
        a = u.ask("policy-explain", {"uid": 0, "method": "connect",
                                     "params": {"host": "127.0.0.3", "port": port}})
        equal(a.get("error", {}).get("code"), -32005, "a non-root caller asking about uid 0")
        root = Client("@" + sock)
        x = root.call("policy-explain", {"uid": U, "method": "connect",
                                         "params": {"host": "three.netd-test", "port": port}})
        equal((x["allowed"], x["rule"]), (False, "no-three"), "root asking about U")
        x = root.call("policy-explain", {"method": "connect",
                                         "params": {"host": "three.netd-test", "port": port}})
        equal((x["allowed"], x["rule"]), (True, "default"), "root asking about itself")
        print("ok: policy-explain says what the calls do")

        # A rule's max-handles caps its uid.
        u2.ok("address", {"host": "127.0.0.1", "port": 1})
        u2.ok("address", {"host": "127.0.0.1", "port": 2})
        a = u2.ask("address", {"host": "127.0.0.1", "port": 3})
        e = a.get("error", {})
        equal((e.get("code"), (e.get("data") or {}).get("rule")), (-32006, "cap"),
              "the third handle of U2")
        # ... and its max-memory: a read "all" of 3 MiB needs more than its 1 MiB.
        src = socket.socket()
        src.bind(("127.0.0.1", 0))
        src.listen(1)

        def send_and_close():
            c, _ = src.accept()
            c.sendall(b"x" * (3 << 20))
            c.close()
        threading.Thread(target=send_and_close, daemon=True).start()
        u2.ok("close", {"handle": u2.ok("handles", {})["handles"][0]["handle"]})
        big = u2.ok("connect", {"host": "127.0.0.1", "port": src.getsockname()[1]})["handle"]
        time.sleep(0.3)
        a = u2.ask("read", {"handle": big, "nbytes": "all", "timeout": 10})
        e = a.get("error", {})
        equal((e.get("data") or {}).get("limit"), "max_memory", f"read all past the cap: {a}")
        check("max-memory of rule 'cap'" in e.get("message", ""), e.get("message"))
        src.close()
        print("ok: a rule's max-handles and max-memory cap its uid")

        # Reload: the rules change for later requests; the open connection stays.
        config(conf, first.replace("addresses = 127.0.0.3/32", "addresses = 127.0.0.2/32")
               .replace("[rule no-three]", "[rule no-two]"))
        netd.signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while True:
            x = u.ok("policy-explain", {"method": "connect",
                                        "params": {"host": "127.0.0.2", "port": port}})
            if x["rule"] == "no-two":
                break
            check(time.monotonic() < deadline, f"the reload never took: {x}")
            time.sleep(0.05)
        u.denied("connect", {"host": "127.0.0.2", "port": port}, "no-two")
        h3 = u.ok("connect", {"host": "both.netd-test", "port": port})["handle"]
        equal(u.ok("peername", {"handle": h3})["host"], "127.0.0.3", "after the reload")
        u.ok("write", {"handle": h, "data": "after reload", "encoding": "utf8"})
        got = u.ok("chunk", {"handle": h, "nbytes": 12, "encoding": "utf8"})
        equal(got["data"], "after reload", "the connection made before the reload")
        print("ok: SIGHUP changes the policy for later requests; open handles stay")

        # A broken file is refused; the policy before it stays.
        config(conf, first + "[rule broken]\naction = allow\naddresses = 10.0.0.1/8\n")
        netd.signal(signal.SIGHUP)
        netd.wait_log("reload refused")
        check(f"{conf}:" in netd.stderr() and "bits set past" in netd.stderr(), netd.stderr())
        u.denied("connect", {"host": "127.0.0.2", "port": port}, "no-two")
        h4 = u.ok("connect", {"host": "127.0.0.3", "port": port, "keep": False})["handle"]
        u.ok("close", {"handle": h4})
        print("ok: a broken file is refused at reload and the old policy stays")
        print(f"({time.monotonic() - t0:.2f} s)")
    except (Failure, OSError) as e:
        print(f"FAIL: {e}\n--- netd's log:\n{netd.stderr()}", file=sys.stderr)
        netd.proc.kill()
        netd.proc.wait()
        return 1
    finally:
        for c in callers:
            c.proc.kill()
            c.proc.wait()
        for p in (a2, a3):
            p.close()
    netd.stop()
    shutil.rmtree(tmp)
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
