#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_dispatch (tests/fuzz/corpus/dispatch/).

Each seed is a short session of real requests, the way a client would use
netd: a listener and a connection to it, bytes both ways, datagrams, unix
paths, pairs, splices, TLS that fails, policy questions, batches, kept
handles. A seed's first byte chooses the caller and worker (see
fuzz_dispatch.c): ' ' root on worker 0, '!' uid 65534 on worker 0, '"'
root on worker 1, '#' uid 65534 on worker 1. "$N" stands for the Nth
handle name netd has answered in the session; a line with "$N" waits
until that name is there, so sessions put a line that names a handle
after the one that makes it. Every method of the OpenRPC document appears
in at least one seed (checked here). The output is the same every run.

    python3 tests/fuzz/make_dispatch_corpus.py [OUTDIR]
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.path.join(HERE, "..", "..", "proto", "netd.openrpc.json")
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus", "dispatch")
DIR = "/tmp/netd-fuzz"  # the only place the fuzzer's policy allows unix paths
LO = "127.0.0.1"


def tcp(port, **kw):
    return dict({"host": LO, "port": port}, **kw)


# A stream pair through a listener: $0 listener, $1 client, $2 server side.
def stream(port, **connect_kw):
    return [
        ("listen", tcp(port)),
        ("connect", tcp(port, **connect_kw)),
        ("status", {"handle": "$1"}),
        ("accept", {"handle": "$0", "timeout": 5}),
    ]


SESSIONS = {
    "introspection": [
        ("ping", {}), ("stats", {}), ("handles", {}), ("local-addresses", {}),
        ("rpc.discover", None),
    ],
    "address": [
        ("address", tcp(7000)),
        ("address-unpack", {"handle": "$0"}),
        ("address", {"host": "localhost", "port": 80, "multi": True, "canonname": True}),
        ("address", {"host": "::1", "port": 443, "family": "inet6", "passive": True}),
        ("address", {"host": "no-such-name.netd-fuzz.example", "port": 80, "timeout": 1}),
        ("address", {"path": DIR + "/a", "type": "datagram"}),
        ("connect", {"address": "$0", "timeout": 1}),
    ],
    "stream-io": stream(7001) + [
        ("write", {"handle": "$1", "data": "hello\n", "encoding": "utf8"}),
        ("read", {"handle": "$2", "nbytes": 6, "encoding": "utf8", "timeout": 5}),
        ("write", {"handle": "$2", "data": "aGVsbG8=", "partial": True}),
        ("chunk", {"handle": "$1", "nbytes": 3, "timeout": 5}),
        ("read", {"handle": "$1", "nbytes": 10, "peek": True, "timeout": 1}),
        ("pending", {"handle": "$1"}),
        ("flush", {"handle": "$2"}),
        ("wait", {"handle": "$1", "for": "writable", "timeout": 1}),
        ("localname", {"handle": "$1"}),
        ("peername", {"handle": "$2"}),
        ("shutdown", {"handle": "$1", "mode": "w"}),
        ("read", {"handle": "$2", "nbytes": "all", "timeout": 5}),
        ("close", {"handle": "$2"}),
        ("read", {"handle": "$1", "nbytes": 1, "timeout": 1}),
    ],
    "stream-waiting": stream(7002) + [
        ("read", {"handle": "$1", "nbytes": 100}),
        ("wait", {"handle": "$2", "for": "readable"}),
        ("write", {"handle": "$2", "data": "x" * 300, "encoding": "utf8", "oob": False}),
        ("cancel", {"handle": "$1"}),
        ("accept", {"handle": "$0", "timeout": 0.05}),
        ("close", {"handle": "$0"}),
    ],
    "sockopt": stream(7003) + [
        ("setsockopt", {"handle": "$1", "option": "tcp-nodelay", "value": True}),
        ("getsockopt", {"handle": "$1", "option": "so-rcvbuf"}),
        ("setsockopt", {"handle": "$2", "option": "so-sndbuf", "value": 8192}),
        ("getsockopt", {"handle": "$2", "option": "tcp-nodelay"}),
        ("connect", tcp(7003, options={"so-keepalive": True}, bindhost=LO)),
    ],
    "keep": [
        ("connect", tcp(7004)),
        ("listen", tcp(7004, keep=True)),
        ("connect", tcp(7004, keep=True)),
        ("keep", {"handle": "$1"}),
        ("handles", {}),
        ("pair", {"keep": True}),
    ],
    "accept-loop": [
        ("listen", tcp(7005)),
        ("accept-loop", {"handle": "$0"}),
        ("connect", tcp(7005)),
        ("connect", tcp(7005)),
        ("close", {"handle": "$2"}),
    ],
    "server": [
        ("server", tcp(7006, backlog=4)),
        ("connect", tcp(7006)),
        ("write", {"handle": "$1", "data": "hi", "encoding": "utf8"}),
        ("server", {"path": DIR + "/srv"}),
        ("connect", {"path": DIR + "/srv"}),
    ],
    "datagram": [
        ("listen", tcp(7007, type="datagram")),
        ("connect", tcp(7007, type="datagram")),
        ("write", {"handle": "$1", "data": "ping", "encoding": "utf8"}),
        ("recv-from", {"handle": "$0", "timeout": 2, "encoding": "utf8"}),
        ("send-to", {"handle": "$0", "dest": tcp(7008), "data": "x", "encoding": "utf8"}),
        ("disconnect", {"handle": "$1"}),
        ("recv-from", {"handle": "$1", "timeout": 0.05}),
    ],
    "unix-paths": [
        ("listen", {"path": DIR + "/s1"}),
        ("connect", {"path": DIR + "/s1"}),
        ("accept", {"handle": "$0", "timeout": 5}),
        ("listen", {"path": DIR + "/d1", "type": "datagram"}),
        ("listen", {"path": "/tmp/not-allowed"}),
        ("connect", {"path": "@netd-fuzz-abstract"}),
        ("listen", {"path": "@netd-fuzz-abstract"}),
    ],
    "pair-release": [
        ("pair", {}),
        ("write", {"handle": "$0", "data": "abc", "encoding": "utf8"}),
        ("read", {"handle": "$1", "nbytes": 3, "timeout": 2}),
        ("release", {"handle": "$1", "dup": True}),
        ("release", {"handle": "$1"}),
        ("assign", {}),
        ("pair", {"type": "datagram"}),
    ],
    "splice": [
        ("pair", {}),
        ("pair", {}),
        ("status", {"handle": "$3"}),
        ("splice", {"a": "$1", "b": "$2"}),
        ("write", {"handle": "$0", "data": "through", "encoding": "utf8"}),
        ("read", {"handle": "$3", "nbytes": 7, "timeout": 2}),
        ("close", {"handle": "$0"}),
    ],
    "attach": [
        ("pair", {}),
        ("attach", {"handle": "$0", "mode": "fd"}),
        ("pair", {}),
        ("attach", {"handle": "$2", "mode": "upgrade"}),
    ],
    "tls": [
        ("tls-config", {"cafile": "/etc/ssl/certs/ca-certificates.crt"}),
        ("tls-config", {}),
        ("pair", {}),
        ("starttls", {"handle": "$0", "role": "client", "servername": "x", "timeout": 1}),
        ("starttls", {"handle": "$1", "role": "server", "cert": DIR + "/no.pem",
                      "key": DIR + "/no.pem"}),
        ("listen", tcp(7009)),
        ("connect", tcp(7009, tls={"servername": "localhost", "alpn": ["h2"]}, timeout=2)),
        ("listen", tcp(7010, tls={"cert": DIR + "/no.pem", "key": DIR + "/no.pem"})),
    ],
    "tls-both-ends": [
        ("listen", tcp(7012, tls={"cert": DIR + "/cert.pem", "key": DIR + "/key.pem",
                                  "alpn": ["h2", "http/1.1"]})),
        ("connect", tcp(7012, tls={"cafile": DIR + "/cert.pem", "servername": "localhost",
                                   "alpn": ["h2"]})),
        ("status", {"handle": "$1"}),
        ("accept", {"handle": "$0", "timeout": 5}),
        ("write", {"handle": "$1", "data": "over tls", "encoding": "utf8"}),
        ("read", {"handle": "$2", "nbytes": 8, "timeout": 5}),
        ("status", {"handle": "$2"}),
        ("shutdown", {"handle": "$2"}),
        ("read", {"handle": "$1", "nbytes": "all", "timeout": 5}),
        ("connect", tcp(7012, tls={"verify": False})),
        ("pair", {}),
        ("starttls", {"handle": "$4", "role": "server", "cert": DIR + "/cert.pem",
                      "key": DIR + "/key.pem", "timeout": 5}),
        ("starttls", {"handle": "$3", "role": "client", "verify": False, "timeout": 5}),
    ],
    "policy": [
        ("policy-explain", {"method": "connect", "params": tcp(7000)}),
        ("policy-explain", {"method": "listen", "params": {"path": "/etc/x"}}),
        ("policy-explain", {"method": "send-to", "params": {"dest": tcp(53)}, "uid": 65534}),
        ("policy-explain", {"method": "server", "params": {"host": "localhost", "port": 7011}}),
    ],
    "monitor": [
        ("monitor", {}),
        ("ping", {}),
        ("connect", tcp(1)),
    ],
    "unreachable": [
        ("connect", {"host": "10.0.0.1", "port": 80, "timeout": 1}),
        ("connect", {"host": "::1", "port": 9, "wait": False}),
        ("wait", {"handle": "$0", "for": "error", "timeout": 2}),
        ("listen", {"host": LO, "port": 80}),
        ("connect", {"host": "localhost", "port": 9, "timeout": 1}),
    ],
}

# Sessions also run as uid 65534 (policy and trust checks), on worker 1
# (requests for handles of the other worker travel), or both.
AS_OTHER = ["stream-io", "keep", "unix-paths", "pair-release", "policy", "introspection"]
ON_WORKER1 = ["tls-both-ends", "stream-io", "splice", "accept-loop", "keep", "datagram"]

# Lines written as they are: batches, notifications, and things no single
# request shows.
RAW = {
    "batch": b' [{"jsonrpc":"2.0","id":1,"method":"pair"},{"jsonrpc":"2.0","id":2,'
             b'"method":"ping"}]\n'
             b'[{"jsonrpc":"2.0","id":3,"method":"release","params":{"handle":"$0"}},'
             b'{"jsonrpc":"2.0","id":4,"method":"release","params":{"handle":"$1"}}]\n',
    "notification": b' {"jsonrpc":"2.0","method":"pair"}\n{"jsonrpc":"2.0","method":"close",'
                    b'"params":{"handle":"h0.1"}}\n',
    "bad-lines": b' {\n[]\n{"jsonrpc":"2.0","id":1,"method":"ping\\u0000x"}\n'
                 b'{"jsonrpc":"2.0","id":[],"method":"ping"}\n\n',
    "cross-worker": b'" {"jsonrpc":"2.0","id":1,"method":"read","params":{"handle":"h0.1",'
                    b'"nbytes":1}}\n{"jsonrpc":"2.0","id":2,"method":"close","params":'
                    b'{"handle":"h1.ffff"}}\n',
}


def line(rid, method, params):
    msg = {"jsonrpc": "2.0", "id": rid, "method": method}
    if params is not None:
        msg["params"] = params
    return json.dumps(msg, separators=(",", ":")) + "\n"


def session(prefix, calls):
    return (prefix + "".join(line(i + 1, m, p) for i, (m, p) in enumerate(calls))).encode()


def main():
    with open(DOC) as f:
        methods = {m["name"] for m in json.load(f)["methods"]}
    used = {m for calls in SESSIONS.values() for m, _ in calls}
    missing = sorted(methods - used)
    if missing:
        sys.exit("no seed uses: " + ", ".join(missing))
    os.makedirs(OUT, exist_ok=True)
    seeds = {}
    for name, calls in SESSIONS.items():
        seeds[name] = session(" ", calls)
        if name in AS_OTHER:
            seeds[name + "-uid65534"] = session("!", calls)
        if name in ON_WORKER1:
            seeds[name + "-worker1"] = session('"', calls)
    seeds.update(RAW)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"{len(seeds)} seeds in {OUT}")


if __name__ == "__main__":
    main()
