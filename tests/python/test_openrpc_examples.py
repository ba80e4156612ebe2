#!/usr/bin/env python3
"""Every method's example in proto/netd.openrpc.json, sent to a real netd.

Each method has exactly one example, with params and a result. The
example's result must match the method's result schema, and so must the
answer netd gives to the example's params: the params are sent as written,
except the values that name live things (handles, ports, files), which the
test puts in from objects it made for that method (a stream with bytes
waiting for `read`, a listener with a connection waiting for `accept`...).
An object result must also have the same members as the example's (the
example of rpc.discover shows only some of the document's). Notifications
met on the way (accepted, event) are checked against their documented
params. `monitor` is answered only when its connection ends, so its example
result is checked against the schema alone, and its events against theirs.

Standard library only; peers are Python sockets (TLS with the ssl module
and a certificate made with openssl).
"""

import base64
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from schema_check import errors  # noqa: E402

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC_PATH = os.path.join(SOURCE_DIR, "proto", "netd.openrpc.json")
PRINT = os.environ.get("NETD_EXAMPLES_PRINT") == "1"


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


class Conn:
    """One control connection: requests by id, notifications kept aside."""

    def __init__(self, name):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect("\0" + name)
        self.s.settimeout(20)
        self.buf = b""
        self.fds = []
        self.notes = []
        self.next_id = 0

    def send(self, method, params, fds=()):
        self.next_id += 1
        line = json.dumps({"jsonrpc": "2.0", "id": self.next_id, "method": method,
                           "params": params}).encode() + b"\n"
        if fds:
            socket.send_fds(self.s, [line], list(fds))
        else:
            self.s.sendall(line)
        return self.next_id

    def message(self):
        while b"\n" not in self.buf:
            data, fds, _, _ = socket.recv_fds(self.s, 1 << 20, 4)
            check(data, "netd closed the connection")
            self.buf += data
            self.fds += fds
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def answer(self, id_):
        while True:
            m = self.message()
            if "method" in m:
                self.notes.append(m)
            elif m.get("id") == id_:
                return m

    def call(self, method, params=None):
        a = self.answer(self.send(method, params or {}))
        check("result" in a, "%s %r: %r" % (method, params, a))
        return a["result"]

    def note(self, method):
        while True:
            for i, n in enumerate(self.notes):
                if n["method"] == method:
                    return self.notes.pop(i)
            m = self.message()
            if "method" in m:
                self.notes.append(m)

    def close(self):
        for fd in self.fds:
            os.close(fd)
        self.s.close()


class Peers:
    """Python ends of netd's sockets: a TCP listener that keeps what it
    accepts, a TLS listener, a UDP socket."""

    def __init__(self, tmp):
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.accepted = []
        threading.Thread(target=self._accept, daemon=True).start()
        self.cert = os.path.join(tmp, "cert.pem")
        key = os.path.join(tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                        "-keyout", key, "-out", self.cert], check=True, capture_output=True)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(self.cert, key)
        self.tls = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._accept_tls, daemon=True).start()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))

    def _accept(self):
        while True:
            try:
                self.accepted.append(self.tcp.accept()[0])
            except OSError:
                return

    def _accept_tls(self):
        while True:
            try:
                c, _ = self.tls.accept()
            except OSError:
                return
            try:
                t = self.ctx.wrap_socket(c, server_side=True)
                self.accepted.append(t)
            except (OSError, ssl.SSLError):
                c.close()

    def port(self):
        return self.tcp.getsockname()[1]

    def peer_of(self, port):
        """The accepted connection whose far end is netd's local @port."""
        for _ in range(1000):
            for s in list(self.accepted):
                try:
                    if s.getpeername()[1] == port:
                        return s
                except OSError:
                    pass
            time.sleep(0.01)
        raise Failure("the peer accepted no connection from port %d" % port)


class Lab:
    """What a method's example needs, made fresh for it."""

    def __init__(self, conn, peers):
        self.c, self.p = conn, peers

    def stream(self, data=None):
        h = self.c.call("connect", {"host": "127.0.0.1", "port": self.p.port()})["handle"]
        peer = self.p.peer_of(self.c.call("localname", {"handle": h})["port"])
        self.peer = peer
        if data:
            peer.sendall(data)
            self.c.call("wait", {"handle": h, "for": "readable", "timeout": 5})
        return h

    def listener(self, waiting=False):
        h = self.c.call("listen", {"host": "127.0.0.1", "port": 0})["handle"]
        port = self.c.call("localname", {"handle": h})["port"]
        if waiting:
            s = socket.create_connection(("127.0.0.1", port))
            self.p.accepted.append(s)  # closed with the others
        return h, port

    def udp(self, datagram=None):
        h = self.c.call("listen", {"host": "127.0.0.1", "port": 0, "type": "datagram"})["handle"]
        if datagram:
            port = self.c.call("localname", {"handle": h})["port"]
            self.p.udp.sendto(datagram, ("127.0.0.1", port))
            self.c.call("wait", {"handle": h, "for": "readable", "timeout": 5})
        return h

    def udp_connected(self):
        return self.c.call("connect", {"host": "127.0.0.1", "port": self.p.udp.getsockname()[1],
                                       "type": "datagram"})["handle"]

    def address(self):
        return self.c.call("address", {"host": "127.0.0.1", "port": 7007})["handle"]


def prepare(method, lab, params):
    """The params to send for @method's example (@params, with live values
    in place of those that name things), and what to do once it is sent."""
    p = dict(params)
    after = None
    h = None
    if method in ("read", "chunk"):
        h = lab.stream(b"hello")
    elif method in ("write", "pending", "flush", "shutdown", "close", "cancel", "localname",
                    "peername", "status", "wait", "keep", "setsockopt", "getsockopt", "release",
                    "attach"):
        h = lab.stream()
    elif method == "splice":
        p["a"] = lab.stream(b"hello")
        pa = lab.peer
        p["b"] = lab.stream()
        pb = lab.peer

        def after(c):
            # Both directions end: a's peer ends its side once b has the
            # bytes, and b's peer ends its side.
            got = b""
            pb.settimeout(10)
            while len(got) < 5:
                got += pb.recv(100)
            pa.shutdown(socket.SHUT_WR)
            pb.shutdown(socket.SHUT_WR)
    elif method == "starttls":
        h = lab.c.call("connect", {"host": "127.0.0.1", "port": lab.p.tls.getsockname()[1]})["handle"]
        p["cafile"] = lab.p.cert
    elif method == "accept":
        h = lab.listener(waiting=True)[0]
    elif method == "accept-loop":
        h, port = lab.listener()

        def after(c):
            s = socket.create_connection(("127.0.0.1", port))
            lab.p.accepted.append(s)
            note = c.note("accepted")
            check_notification(lab.doc, note)
            check(note["params"]["listener"] == h, "accepted names listener %r, not %r"
                  % (note["params"]["listener"], h))
            c.send("close", {"handle": h})  # its answer is not waited for
    elif method == "recv-from":
        h = lab.udp(b"hello")
    elif method == "send-to":
        h = lab.udp()
        p["dest"] = {"host": "127.0.0.1", "port": lab.p.udp.getsockname()[1]}
    elif method == "disconnect":
        h = lab.udp_connected()
    elif method == "address-unpack":
        h = lab.address()
    elif method == "connect":
        p["port"] = lab.p.port()
    elif method == "tls-config":
        p["cafile"] = lab.p.cert
    if "handle" in params:
        check(h, "%s: the test has nothing to put in for its handle" % method)
        p["handle"] = h
    return p, after


def check_notification(doc, note):
    spec = next((n for n in doc["x-notifications"] if n["name"] == note["method"]), None)
    check(spec, "netd sent a notification the document lacks: %r" % note)
    params = note["params"]
    names = {q["name"] for q in spec["params"]}
    check(set(params) <= names, "%s carries %s, which the document lacks"
          % (note["method"], set(params) - names))
    for q in spec["params"]:
        if q["name"] not in params:
            check(not q.get("required"), "%s lacks %s" % (note["method"], q["name"]))
            continue
        bad = errors(doc, q["schema"], params[q["name"]], "%s.%s" % (note["method"], q["name"]))
        check(not bad, "; ".join(bad))


def example_of(m):
    ex = m.get("examples")
    check(isinstance(ex, list) and len(ex) == 1, "%s has %s examples, not one"
          % (m["name"], len(ex) if isinstance(ex, list) else "no"))
    ex = ex[0]
    check(isinstance(ex.get("name"), str), "%s: the example has no name" % m["name"])
    check(isinstance(ex.get("params"), list) and "result" in ex,
          "%s: the example lacks params or result" % m["name"])
    names = [q["name"] for q in m["params"]]
    params = {}
    for q in ex["params"]:
        check(q["name"] in names, "%s: the example's param %s is not the method's"
              % (m["name"], q["name"]))
        params[q["name"]] = q["value"]
    for q in m["params"]:
        if q.get("required"):
            check(q["name"] in params, "%s: the example lacks required %s" % (m["name"], q["name"]))
    return params, ex["result"]["value"]


def run_method(doc, lab, m):
    name = m["name"]
    params, want = example_of(m)
    schema = m["result"]["schema"]
    bad = errors(doc, schema, want, "%s example result" % name)
    check(not bad, "; ".join(bad))
    for q in m["params"]:
        if q["name"] in params:
            bad = errors(doc, q["schema"], params[q["name"]], "%s example param %s"
                         % (name, q["name"]))
            check(not bad, "; ".join(bad))
    if name == "monitor":
        mon = Conn(lab.name)
        mon.send("monitor", params)
        other = Conn(lab.name)
        for _ in range(100):  # the monitor is on once an event of another worker's request comes
            other.call("ping")
            mon.s.settimeout(0.1)
            try:
                note = mon.message()
            except (socket.timeout, TimeoutError):
                continue
            finally:
                mon.s.settimeout(20)
            check(note.get("method") == "event", "monitor sent %r" % note)
            check_notification(doc, note)
            break
        else:
            raise Failure("monitor: no event came")
        other.close()
        mon.close()
        return
    send, after = prepare(name, lab, params)
    check(set(send) == set(params), "%s: the test changed which params are sent" % name)
    c = lab.c
    id_ = c.send(name, send)
    if after:
        after(c)
    ans = c.answer(id_)
    if PRINT:
        print("%s %s -> %s" % (name, json.dumps(send), json.dumps(ans)[:300]))
    check("result" in ans, "%s %s: netd answered %r" % (name, json.dumps(send), ans))
    got = ans["result"]
    bad = errors(doc, schema, got, "%s result" % name)
    check(not bad, "; ".join(bad))
    if isinstance(want, dict) and isinstance(got, dict):
        if name == "rpc.discover":
            check(set(want) <= set(got), "rpc.discover: the example shows members netd lacks")
        else:
            check(set(want) == set(got), "%s: netd's result has members %s, the example %s"
                  % (name, sorted(got), sorted(want)))
    while c.fds:
        os.close(c.fds.pop())


def main():
    netd = os.environ.get("NETD_BIN")
    if not netd:
        raise SystemExit("FAIL: NETD_BIN is not set")
    with open(DOC_PATH) as f:
        doc = json.load(f)
    name = "netd-examples-%d" % os.getpid()
    proc = subprocess.Popen([netd, "--socket", "@" + name, "--log-level", "warn"])
    failures = []
    try:
        for _ in range(250):
            try:
                c = Conn(name)
                break
            except OSError:
                time.sleep(0.02)
        else:
            raise SystemExit("FAIL: netd did not come up")
        with tempfile.TemporaryDirectory() as tmp:
            peers = Peers(tmp)
            lab = Lab(c, peers)
            lab.doc, lab.name = doc, name
            for m in doc["methods"]:
                if m["name"] == "assign":
                    # The descriptor travels with the request line.
                    a, b = socket.socketpair()
                    params, want = example_of(m)
                    id_ = c.send("assign", params, fds=[a.fileno()])
                    a.close()
                    ans = c.answer(id_)
                    b.close()
                    ok = "result" in ans and not errors(doc, m["result"]["schema"], ans["result"])
                    if not ok or set(ans.get("result", {})) != set(want):
                        failures.append("assign: %r" % ans)
                    continue
                try:
                    run_method(doc, lab, m)
                except Failure as e:
                    failures.append(str(e))
            for s in peers.accepted:
                s.close()
        c.close()
    finally:
        proc.terminate()
        try:
            code = proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
    for f in failures:
        print("FAIL:", f)
    if code != 0:
        print("FAIL: netd exited with %d" % code)
    if failures or code != 0:
        return 1
    print("ok: the examples of all %d methods match their result schemas, and so do netd's "
          "answers to them" % len(doc["methods"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
