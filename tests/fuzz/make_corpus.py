#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_proto (tests/fuzz/corpus/proto/).

Seeds are what a client could send: for every method of the OpenRPC
document a request with its required parameters and one with every
parameter, one per choice of each enum parameter, and then batches,
notifications and hand-written edge cases (NUL bytes, handle-name aliases,
encodings, framing). Run it again after the document changes; the output
is the same for the same document, so a diff shows what changed.

    python3 tests/fuzz/make_corpus.py [OUTDIR]
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.path.join(HERE, "..", "..", "proto", "netd.openrpc.json")
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus", "proto")

# Values for parameters whose schema is a plain string, by name.
NAMED = {
    "host": "127.0.0.1",
    "path": "@netd-fuzz",
    "bindhost": "127.0.0.1",
    "servername": "localhost",
    "cafile": "/etc/ssl/certs/ca-certificates.crt",
    "capath": "/etc/ssl/certs",
    "cert": "/tmp/cert.pem",
    "key": "/tmp/key.pem",
    "data": "aGVsbG8=",
    "dest": {"host": "127.0.0.1", "port": 9},
    "value": 1,
    "alpn": ["h2", "http/1.1"],
    "options": {"so-reuseaddr": True},
}


def deref(doc, schema):
    while isinstance(schema, dict) and "$ref" in schema:
        node = doc
        for part in schema["$ref"][2:].split("/"):
            node = node[part]
        schema = node
    return schema


def samples(doc, name, schema):
    """A few valid values for one parameter, the most ordinary first."""
    schema = deref(doc, schema)
    if name in NAMED:
        return [NAMED[name]]
    if "enum" in schema:
        return list(schema["enum"])
    if "oneOf" in schema:
        out = []
        for alt in schema["oneOf"]:
            out += samples(doc, name, alt)
        return out
    t = schema.get("type")
    if schema.get("title") == "handle" or name in ("handle", "address"):
        return ["h0.1"]
    if t == "integer":
        lo, hi = schema.get("minimum", 0), schema.get("maximum", 1 << 20)
        return [lo, hi] if lo != hi else [lo]
    if t == "number":
        return [1.5, 0]
    if t == "boolean":
        return [True, False]
    if t == "null":
        return [None]
    if t == "string":
        return ["x"]
    if t == "object":
        return [{}]
    return [True]


def request(rid, method, params=None):
    msg = {"jsonrpc": "2.0", "id": rid, "method": method}
    if params is not None:
        msg["params"] = params
    return json.dumps(msg, separators=(",", ":"))


def method_seeds(doc):
    seeds = {}
    for m in doc["methods"]:
        name, params = m["name"], m.get("params", [])
        required = {p["name"]: samples(doc, p["name"], p.get("schema", {}))[0]
                    for p in params if p.get("required")}
        every = {p["name"]: samples(doc, p["name"], p.get("schema", {}))[0] for p in params}
        seeds[f"m-{name}-required"] = request(1, name, required or None)
        if every != required:
            seeds[f"m-{name}-all"] = request(2, name, every)
        for p in params:
            values = samples(doc, p["name"], p.get("schema", {}))
            for i, v in enumerate(values[1:], 1):
                seeds[f"m-{name}-{p['name']}-{i}"] = request(3, name, dict(required, **{p["name"]: v}))
    return seeds


def edge_seeds():
    r = request
    s = {}
    # Batches and notifications.
    s["batch-two"] = json.dumps([json.loads(r(1, "ping")), json.loads(r(2, "stats"))])
    s["batch-mixed"] = '[{"jsonrpc":"2.0","id":1,"method":"ping"},5,{"jsonrpc":"2.0","method":"ping"}]'
    s["batch-empty"] = "[]"
    s["batch-release-two"] = json.dumps([json.loads(r(1, "release", {"handle": "h0.1"})),
                                         json.loads(r(2, "release", {"handle": "h0.2"}))])
    s["notification"] = '{"jsonrpc":"2.0","method":"ping"}'
    s["notification-bad-params"] = '{"jsonrpc":"2.0","method":"ping","params":[1]}'
    # The envelope.
    s["env-positional-unknown"] = '{"jsonrpc":"2.0","id":1,"method":"nosuch","params":[1,2]}'
    s["env-positional-known"] = '{"jsonrpc":"2.0","id":1,"method":"read","params":["h0.1",4]}'
    s["env-version-nul"] = '{"jsonrpc":"2.0\\u0000x","id":1,"method":"ping"}'
    s["env-method-nul"] = '{"jsonrpc":"2.0","id":1,"method":"ping\\u0000x"}'
    s["env-method-nul-stats"] = '{"jsonrpc":"2.0","id":1,"method":"stats\\u0000evil"}'
    s["env-id-types"] = "\n".join(r(v, "ping") for v in ["s", 1.5, -1, None])
    s["env-duplicate-key"] = '{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}'
    s["env-not-object"] = '42\n"x"\nnull\ntrue\n{}'
    # Parameters with NUL bytes.
    s["nul-nbytes"] = r(1, "read", {"handle": "h0.1", "nbytes": "all\u0000"})
    s["nul-encoding"] = r(1, "read", {"handle": "h0.1", "nbytes": 1, "encoding": "hex\u0000"})
    s["nul-mode"] = r(1, "shutdown", {"handle": "h0.1", "mode": "r\u0000w"})
    s["nul-host"] = r(1, "connect", {"host": "localhost\u0000evil", "port": 80})
    s["nul-data-utf8"] = r(1, "write", {"handle": "h0.1", "data": "a\u0000b", "encoding": "utf8"})
    # Handle names, canonical and not.
    for i, h in enumerate(["h0.1", "h+0.1", "h 0.1", "h00.1", "h0.01", "h0.A", "h0.0",
                           "h9999.ffffffffffffffff", "h10000.1", "h0.10000000000000000",
                           "h0.1\u0000", "h0.1 "]):
        s[f"handle-{i}"] = r(1, "status", {"handle": h})
    # Encodings.
    for i, (data, enc) in enumerate([("", "base64"), ("AA==", "base64"), ("AA", "base64"),
                                     ("AB==", "base64"), ("A===", "base64"), ("ab=c", "base64"),
                                     ("00ff", "hex"), ("00FF", "hex"), ("0", "hex"),
                                     ("\u00e9t\u00e9", "utf8"), ("\udbff\udfff", "utf8")]):
        s[f"data-{i}"] = r(1, "write", {"handle": "h0.1", "data": data, "encoding": enc})
    # Framing: several lines, CRLF, blank lines, a line past the maximum.
    s["frame-lines"] = "\n".join([r(1, "ping"), "", "  ", r(2, "stats")]) + "\n"
    s["frame-crlf"] = r(1, "ping") + "\r\n" + r(2, "ping") + "\r\n"
    s["frame-partial"] = r(1, "ping") + "\n" + r(2, "ping")[:20]
    s["frame-long"] = r(1, "ping", {"x": "a" * 2100}) + "\n" + r(2, "ping") + "\n"
    s["frame-nested"] = "[" * 200 + "]" * 200 + "\n"
    return s


def main():
    with open(DOC) as f:
        doc = json.load(f)
    seeds = method_seeds(doc)
    seeds.update(edge_seeds())
    os.makedirs(OUT, exist_ok=True)
    for old in os.listdir(OUT):
        os.unlink(os.path.join(OUT, old))
    for name, text in sorted(seeds.items()):
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        data = text if text.endswith("\n") else text + "\n"
        with open(os.path.join(OUT, safe), "wb") as f:
            f.write(data.encode("utf-8"))
    print(f"{len(seeds)} seeds in {OUT}")


if __name__ == "__main__":
    main()
