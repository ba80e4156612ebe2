#!/usr/bin/env python3
"""Name resolution when DNS fails (issue 9, fault tests).

netd runs in a private mount namespace whose /etc/resolv.conf names only a
DNS server of this test on 127.0.0.4:53 (timeout 1 s, one attempt). The
server answers by the first label of the name: nx-* with NXDOMAIN, fail-*
with SERVFAIL, hole-* never (it counts those queries). Then:

- `address` and `connect` of a name the server denies or fails fail with
  -32007 resolve, `data.gai` naming the cause (EAI_NONAME, EAI_AGAIN) and a
  message that names the host, says why and what to do next;
- a name the server never answers fails with -32007 EAI_AGAIN after
  glibc's timeout, or with -32001 timeout within the call's `timeout`;
- 40 such lookups of uid 65534 that give up after 0.2 s hold the resolver
  only for the lookups already running (--max-lookups-per-uid, 4): the
  server hears at most 4 of the 40 names, root's lookup of localhost
  (/etc/hosts) is answered at once meanwhile, and uid 65534's own lookup
  of localhost is answered at once once glibc's timeout has passed.

Needs root (port 53, unshare, mount, setuid); exits 77 (skipped) without.
"""
import os
import socket
import struct
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from service_util import Client, Failure, Netd, check, equal, need_netd, unique  # noqa: E402

SKIP = 77
DNS = "127.0.0.4"
OTHER = 65534
MAX_LOOKUPS = 4  # netd's default --max-lookups-per-uid


class DnsServer:
    """NXDOMAIN for nx-*, SERVFAIL for fail-*, silence for hole-*."""

    def __init__(self, sock):
        self.sock = sock
        self.holes = set()  # names of hole-* queries heard
        self.lock = threading.Lock()
        self.stop = threading.Event()
        threading.Thread(target=self.run, daemon=True).start()

    @staticmethod
    def qname(data):
        labels, i = [], 12
        while i < len(data) and data[i]:
            n = data[i]
            labels.append(data[i + 1:i + 1 + n].decode("ascii", "replace"))
            i += 1 + n
        return ".".join(labels)

    def run(self):
        while not self.stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            if len(data) < 12:
                continue
            name = self.qname(data)
            if name.startswith("hole-"):
                with self.lock:
                    self.holes.add(name)
                continue
            rcode = 3 if name.startswith("nx-") else 2  # NXDOMAIN, else SERVFAIL
            ident, _flags, qd = struct.unpack("!HHH", data[:6])
            flags = 0x8180 | rcode  # response, recursion desired and available
            try:
                self.sock.sendto(struct.pack("!HHHHHH", ident, flags, qd, 0, 0, 0) + data[12:],
                                 peer)
            except OSError:
                pass

    def heard(self):
        with self.lock:
            return set(self.holes)


def resolve_error(c, method, params, gai):
    """@method fails with -32007 and data.gai @gai; returns (message, seconds)."""
    t0 = time.monotonic()
    err = c.error(method, params)
    took = time.monotonic() - t0
    equal(err["code"], -32007, f"{method} {params['host']}: {err}")
    equal(err.get("data", {}).get("gai"), gai, f"{method} {params['host']}: data.gai")
    msg = err["message"]
    check(params["host"] in msg, f"the message names the host: {msg!r}")
    return msg, took


def test_denied_and_failed_names(c):
    for method in ("address", "connect"):
        for host, gai, hint in (("nx-%s.netd-test.example" % method, "EAI_NONAME", "check"),
                                ("fail-%s.netd-test.example" % method, "EAI_AGAIN", "try again")):
            msg, took = resolve_error(c, method, {"host": host, "port": 80}, gai)
            print(f"  {method} {host}: {msg} ({took:.2f} s)")
            check(hint in msg, f"the message says what to do next ({hint!r}): {msg!r}")
            check(took < 5, f"{method} {host} took {took:.1f} s")


def test_server_that_never_answers(c):
    # Without a timeout: glibc's own (1 s, one attempt) ends it.
    msg, took = resolve_error(c, "address", {"host": "hole-a.netd-test.example", "port": 80},
                              "EAI_AGAIN")
    print(f"  address hole-a, no timeout: {msg} ({took:.2f} s)")
    check("try again" in msg, f"the message says what to do next: {msg!r}")
    check(took < 8, f"glibc's timeout of 1 s took {took:.1f} s")
    # With one: the call's timeout ends it.
    for method in ("address", "connect"):
        t0 = time.monotonic()
        err = c.error(method, {"host": "hole-%s.netd-test.example" % method, "port": 80,
                               "timeout": 0.3})
        took = time.monotonic() - t0
        equal(err["code"], -32001, f"{method} with timeout 0.3: {err}")
        print(f"  {method} hole-{method}, timeout 0.3: {err['message']} ({took:.2f} s)")
        check(took < 0.9, f"{method} with timeout 0.3 was answered after {took:.2f} s")


def other_uid(name, count, then_wait):
    """As uid OTHER: @count lookups of hole-* names giving up after 0.2 s,
    then (after @then_wait seconds) one of localhost. Returns (timed out,
    seconds the localhost lookup took)."""
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
            ids = [c.send("address", {"host": "hole-%d.netd-test.example" % i, "port": 80,
                                      "timeout": 0.2}) for i in range(count)]
            timed_out = sum(1 for i in ids if c.answer(i).get("error", {}).get("code") == -32001)
            os.write(w, b"%d\n" % timed_out)
            time.sleep(then_wait)
            t0 = time.monotonic()
            a = c.answer(c.send("address", {"host": "localhost", "port": 80, "timeout": 30}))
            took = time.monotonic() - t0 if "result" in a else -1.0
            os.write(w, b"%.3f\n" % took)
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    f = os.fdopen(r)
    timed_out = int(f.readline() or -1)
    took = float(f.readline() or -2)
    f.close()
    _, st = os.waitpid(pid, 0)
    check(os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0, f"the uid {OTHER} client failed: {st}")
    return timed_out, took


def test_callers_that_gave_up_do_not_hold_the_pool(c, name, dns):
    before = dns.heard()
    result = {}
    t = threading.Thread(target=lambda: result.update(
        zip(("timed_out", "took"), other_uid(name, 40, 2.5))))
    t.start()
    time.sleep(0.5)  # the 40 lookups are in netd (and have given up)
    t0 = time.monotonic()
    a = c.call("address", {"host": "localhost", "port": 80, "timeout": 30})
    root_took = time.monotonic() - t0
    check(a.get("handle"), f"root's localhost lookup: {a}")
    t.join(60)
    check(not t.is_alive(), f"the uid {OTHER} client hangs")
    heard = dns.heard() - before
    print(f"  40 lookups of uid {OTHER} timed out: {result['timed_out']}; the DNS server heard "
          f"{len(heard)} of their names; root's localhost took {root_took:.3f} s; uid {OTHER}'s "
          f"localhost afterwards took {result['took']:.3f} s")
    equal(result["timed_out"], 40, "lookups that gave up after 0.2 s")
    check(root_took < 1.0, f"root's /etc/hosts lookup waited {root_took:.2f} s")
    check(len(heard) <= MAX_LOOKUPS,
          f"lookups whose callers gave up still ran: the server heard {len(heard)} names")
    check(0 <= result["took"] < 1.0,
          f"uid {OTHER}'s own lookup after glibc's timeout took {result['took']:.2f} s")


def main():
    need_netd()
    if os.geteuid() != 0:
        print("SKIP: needs root for port 53, a mount namespace and another uid")
        return SKIP
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((DNS, 53))
    except OSError as e:
        print("SKIP: cannot bind %s:53:" % DNS, e)
        return SKIP
    dns = DnsServer(sock)
    with tempfile.NamedTemporaryFile("w", prefix="netd-resolver-fail-", suffix=".conf",
                                     delete=False) as rc:
        rc.write("nameserver %s\noptions timeout:1 attempts:1\n" % DNS)
    os.chmod(rc.name, 0o644)
    name = "@" + unique("resolver-fail")
    wrap = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/resolv.conf && exec "$@"',
            rc.name]
    netd = None
    try:
        try:
            netd = Netd(["--socket", name, "--workers", "2", "--allow-uid", str(OTHER)],
                        socket_name=name, wrap=wrap)
        except Failure as e:
            print("SKIP: netd could not start in a mount namespace:", e)
            return SKIP
        c = Client(name)
        for t in (test_denied_and_failed_names, test_server_that_never_answers):
            t0 = time.monotonic()
            t(c)
            print(f"ok {t.__name__} ({time.monotonic() - t0:.2f} s)")
        t0 = time.monotonic()
        test_callers_that_gave_up_do_not_hold_the_pool(c, name, dns)
        print(f"ok test_callers_that_gave_up_do_not_hold_the_pool ({time.monotonic() - t0:.2f} s)")
        c.close()
        netd.stop()
        netd = None
        return 0
    finally:
        if netd:
            netd.proc.kill()
            netd.proc.wait()
            print(netd.stderr())
        dns.stop.set()
        sock.close()
        os.unlink(rc.name)


if __name__ == "__main__":
    sys.exit(main())
