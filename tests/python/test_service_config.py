#!/usr/bin/env python3
"""netd's configuration file and SIGHUP (issue 10, items 1 and 3), and its
control sockets (item 7): real files, good and broken, a real netd.

- a file sets the limits a real request then meets; the command line wins;
- --check-config exits 0 with the settings, or 1 naming file and line, for
  every kind of mistake; netd --config with a broken file does not start;
- SIGHUP under load: clients keep writing and reading through kept and
  unkept handles while netd reloads again and again; every request is
  answered, every byte comes back, every handle stays; a new limit holds
  for later requests; a broken file is refused and the old settings stay;
- several --socket names are served; a stale socket file is replaced, a
  live one is not (and the error says so).
"""

import base64
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from service_util import (NETD, Client, Failure, Netd, check, equal, read_exactly,  # noqa: E402
                          run, sock_addr, unique)


def conf(text):
    f = tempfile.NamedTemporaryFile("w", prefix="netd-conf-", suffix=".conf", delete=False)
    f.write(text)
    f.close()
    return f.name


def echo_server():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)

    def serve(c):
        while True:
            b = c.recv(65536)
            if not b:
                break
            c.sendall(b)
        c.close()

    def loop():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(c,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return srv, srv.getsockname()[1]


def handles_until_limit(c, port, most):
    """Creates address handles until max_handles refuses one; returns how many."""
    made = []
    for _ in range(most + 1):
        m = c.answer(c.send("address", {"host": "127.0.0.1", "port": port}))
        if "error" in m:
            equal(m["error"]["code"], -32006, f"past the limit: {m['error']}")
            equal(m["error"]["data"]["limit"], "max_handles", "the limit named")
            break
        made.append(m["result"]["handle"])
    for h in made:
        c.call("close", {"handle": h})
    return len(made)


def test_file_sets_limits_and_command_line_wins():
    name = "@" + unique("conf")
    path = conf(f"# a comment\n[netd]\n  socket = {name}\nmax-handles = 3 ; inline\n"
                "log-level = debug\n")
    n = Netd(["--config", path], socket_name=name)
    c = Client(name)
    equal(handles_until_limit(c, 80, 10), 3, "handles under max-handles = 3 from the file")
    c.close()
    n.stop()
    name2 = "@" + unique("conf")
    n = Netd(["--config", path, "--max-handles", "5", "--socket", name2], socket_name=name2)
    c = Client(name2)
    equal(handles_until_limit(c, 80, 10), 5, "handles under --max-handles 5 over the file's 3")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    check(s.connect_ex(sock_addr(name)) != 0, "the file's socket is served though --socket won")
    s.close()
    c.close()
    n.stop()
    os.unlink(path)


def test_check_config():
    good = conf("[netd]\nworkers = 3\nallow-uid = 0\nallow-uid = 4242\nallow-gid = root\n"
                "drain-timeout = 0.5\n")
    r = subprocess.run([NETD, "--check-config", good, "--max-read", "4096"],
                       capture_output=True, text=True)
    equal(r.returncode, 0, f"--check-config of a good file ({r.stderr})")
    for line in ("workers = 3", "allow-uid = 0", "allow-uid = 4242", "allow-gid = 0",
                 "drain-timeout = 0.5", "max-read = 4096"):
        check(line + "\n" in r.stdout, f"--check-config does not print {line!r}:\n{r.stdout}")
    os.unlink(good)
    # The policy's sections are printed as netd read them: names as numbers,
    # paths normalized, a cap-only rule without an action.
    rules = conf("[rule a]\nuid = root\naction = deny\naddresses = 10.0.0.0/8\n"
                 "paths = /run//x/../y/\n[rule b]\nuid = 0\nmax-handles = 9\n"
                 "[policy]\ndefault = deny\n")
    r = subprocess.run([NETD, "--check-config", rules], capture_output=True, text=True)
    equal(r.returncode, 0, f"--check-config of rules ({r.stderr})")
    check("[policy]\ndefault = deny\n" in r.stdout and
          "[rule a]\naction = deny\nuid = 0\nops = connect send-to listen bind\n"
          "addresses = 10.0.0.0/8\npaths = /run/y/\n" in r.stdout and
          "[rule b]\nuid = 0\nmax-handles = 9\n" in r.stdout, r.stdout)
    os.unlink(rules)
    broken = [
        ("[netd]\nworkers = 2\nthis is not a setting\n", 3, "not 'key = value'"),
        ("[netd]\nmax-handels = 3\n", 2, "unknown key 'max-handels'"),
        ("[netd]\n\nmax-read = -1\n", 3, "bad value '-1' for max-read"),
        ("[netd]\nworkers = 0\n", 2, "bad value '0' for workers"),
        ("[netd]\nallow-uid = no-such-user-here\n", 2, "no such user"),
        ("[netd]\nlog-level = loud\n", 2, "bad value 'loud' for log-level"),
        ("[netd]\ndrain-timeout = 1e9\n", 2, "bad value '1e9' for drain-timeout"),
        ("[netd]\nsocket = @a\nsocket = @a\n", 3, "given twice"),
        ("workers = 2\n", 1, "outside a section"),
        ("[netd]\n[nets]\nworkers = 2\n", 3, "unknown section [nets]"),
        ("[netd]\n[policy]\ndefault = maybe\n", 3, "default is allow or deny"),
        ("[netd]\n[rule a]\naction = allow\nports = 90000\n", 4, "'90000' is not a port"),
        ("[rule a]\nuid = 0\n\n[netd]\n", 1, "rule 'a' has no action"),
        ("[rule a]\naction = deny\n[rule a]\naction = deny\n", 3, "given twice (first on line 1)"),
        ("[netd]\n# " + "x" * 300 + "\n", 2, "line longer than"),
    ]
    for text, line, why in broken:
        path = conf(text)
        r = subprocess.run([NETD, "--check-config", path], capture_output=True, text=True)
        equal(r.returncode, 1, f"--check-config of {text!r}")
        check(f"{path}:{line}: " in r.stderr and why in r.stderr,
              f"for {text!r} expected '{path}:{line}: ...{why}', got {r.stderr!r}")
        # netd itself refuses to start with it, with the same message.
        r2 = subprocess.run([NETD, "--config", path, "--socket", "@" + unique("never")],
                            capture_output=True, text=True, timeout=10)
        equal(r2.returncode, 2, f"netd --config with {text!r}")
        check(f"{path}:{line}: " in r2.stderr, f"netd's message for {text!r}: {r2.stderr!r}")
        os.unlink(path)
    r = subprocess.run([NETD, "--check-config", "/nonexistent/netd.conf"], capture_output=True,
                       text=True)
    equal(r.returncode, 1, "--check-config of a missing file")
    check("/nonexistent/netd.conf: cannot read" in r.stderr, r.stderr)
    example = os.path.join(os.path.dirname(__file__), "..", "..", "systemd", "netd.conf")
    r = subprocess.run([NETD, "--check-config", example], capture_output=True, text=True)
    equal(r.returncode, 0, f"the shipped example ({r.stderr})")


class Load:
    """Clients that keep doing echo round trips through netd until stopped."""

    def __init__(self, name, port, nclients=4):
        self.stop = threading.Event()
        self.errors = []
        self.rounds = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(name, port, i), daemon=True)
                        for i in range(nclients)]
        for t in self.threads:
            t.start()

    def _run(self, name, port, i):
        try:
            c = Client(name)
            keep = i % 2 == 0
            h = c.call("connect", {"host": "127.0.0.1", "port": port, "keep": keep})["handle"]
            k = 0
            while not self.stop.is_set():
                data = f"client {i} round {k} ".encode() * 50
                equal(c.call("write", {"handle": h, "data": base64.b64encode(data).decode()}),
                      {"written": len(data)}, "write under reload")
                equal(read_exactly(c, h, len(data)), data, "echo under reload")
                equal(c.call("ping"), {}, "ping under reload")
                k += 1
                with self.lock:
                    self.rounds += 1
            c.call("close", {"handle": h})
            c.close()
        except Exception as e:  # reported by the main thread
            self.errors.append(f"client {i}: {e!r}")

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)
        check(not self.errors, f"requests failed under reload: {self.errors}")
        return self.rounds


def test_sighup_under_load():
    name = "@" + unique("reload")
    path = conf(f"[netd]\nsocket = {name}\nworkers = 2\nmax-handles = 100\n")
    n = Netd(["--config", path], socket_name=name)
    srv, port = echo_server()
    load = Load(name, port)
    time.sleep(0.2)
    for k in range(30):
        with open(path, "w") as f:
            f.write(f"[netd]\nsocket = {name}\nworkers = 2\nmax-handles = {100 + k}\n")
        n.signal(signal.SIGHUP)
        time.sleep(0.03)
    n.wait_log("max-handles: '129'")
    # A broken file is refused; the settings in force stay.
    with open(path, "w") as f:
        f.write(f"[netd]\nsocket = {name}\nworkers = 2\nmax-handles = seven\n")
    n.signal(signal.SIGHUP)
    n.wait_log("reload refused")
    check(f"{path}:4: bad value 'seven'" in n.stderr(), "the refusal names file and line")
    rounds = load.finish()
    check(rounds > 20, f"only {rounds} rounds under load")
    c = Client(name)
    equal(handles_until_limit(c, 80, 200), 129, "the last good max-handles holds")
    # A smaller limit, then the sockets and workers that need a restart.
    with open(path, "w") as f:
        f.write(f"[netd]\nsocket = {name}\nsocket = @{unique('other')}\nworkers = 3\n"
                "max-handles = 2\n")
    n.signal(signal.SIGHUP)
    n.wait_log("max-handles: '2'")
    check("workers: '3' needs a restart" in n.stderr(), "workers' change not reported")
    check("socket: " in n.stderr() and "needs a restart" in n.stderr(), "socket's change")
    equal(handles_until_limit(c, 80, 10), 2, "handles after the reload to max-handles = 2")
    c.close()
    n.stop()
    srv.close()
    os.unlink(path)
    print(f"  {rounds} echo rounds across 31 reloads")


def test_sockets_stale_and_live():
    path = f"/tmp/{unique('sock')}.sock"
    name = "@" + unique("sock")
    # A stale file: bound once, its owner gone, nothing answers.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()
    check(os.path.exists(path), "the stale file exists")
    n = Netd(["--socket", path, "--socket", name], socket_name=name)
    n.wait_serving(path)
    for where in (path, name):
        c = Client(where)
        equal(c.call("ping"), {}, f"ping on {where}")
        c.close()
    check("replacing the stale socket file" in n.stderr(), "the replacement is logged")
    check(oct(os.stat(path).st_mode & 0o777) == "0o660", "the socket file is 0660")
    # A live one: this netd answers there, a second netd must not take it.
    r = subprocess.run([NETD, "--socket", path], capture_output=True, text=True, timeout=10)
    equal(r.returncode, 1, "a second netd on a live socket")
    check("a live program" in r.stderr, f"the error says it is live: {r.stderr!r}")
    c = Client(path)
    equal(c.call("ping"), {}, "the first netd still serves its file")
    c.close()
    n.stop()
    check(not os.path.exists(path), "netd removes the socket file it made")
    # A file that is not a socket is left alone.
    with open(path, "w") as f:
        f.write("not a socket")
    r = subprocess.run([NETD, "--socket", path], capture_output=True, text=True, timeout=10)
    equal(r.returncode, 1, "a path that is a plain file")
    check("not a socket" in r.stderr, r.stderr)
    os.unlink(path)


if __name__ == "__main__":
    try:
        run([test_file_sets_limits_and_command_line_wins, test_check_config,
             test_sighup_under_load, test_sockets_stale_and_live])
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        sys.exit(1)
