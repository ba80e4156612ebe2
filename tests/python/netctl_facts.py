"""What netctl and netd really take, found out from the programs and the
sources, for the tests that hold the man pages and the shell completions
to them (test_man.py, test_completion.py).

Commands come from netctl's command table in client/netctl*.c, each
confirmed by `netctl help CMD`. A command's options are probed from the
parser itself: `netctl CMD --OPT` is answered "unknown option" exactly when
the command does not take OPT, so help text that mentions another
command's option cannot mislead the tests.
"""

import json
import os
import re
import subprocess

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Announced by issue 12 and being added to netctl and netd on another branch
# (CLI conventions). The docs and completions already describe them; until
# that branch is merged the programs do not take them, so the checks that
# everything documented exists let these through. Remove once merged.
PENDING_COMMANDS = {"methods", "describe"}
PENDING_OPTIONS = {"--help", "-h", "--version", "--no-legend", "--json=pretty", "--json=short"}

# A name nothing listens on: probing must never reach a real netd.
NOWHERE = "@netd-nowhere-%d" % os.getpid()


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def run(argv, env=None, timeout=10):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)


def commands(netctl):
    """netctl's commands, in table order ("udp send" for a group's)."""
    names = []
    row = re.compile(r'\{\s*"([a-z][a-z-]*(?: [a-z]+)?)",\s*"')
    for name in sorted(os.listdir(os.path.join(SOURCE_DIR, "client"))):
        if name.startswith("netctl") and name.endswith(".c"):
            with open(os.path.join(SOURCE_DIR, "client", name)) as f:
                names += row.findall(f.read())
    # Other tables have rows of the same shape; the program says which rows
    # are commands.
    real = [n for n in dict.fromkeys(names) if run([netctl, "help"] + n.split()).returncode == 0]
    check(len(real) >= 30, f"found only {len(real)} commands in client/netctl*.c: {real}")
    return real


def accepted_options(netctl, command, candidates):
    """The options among @candidates that @command's parser takes."""
    taken = set()
    for opt in sorted(candidates):
        p = run([netctl, "--socket", NOWHERE, "--timeout", "1"] + command.split() + [opt])
        if f"unknown option {opt}" not in p.stderr:
            taken.add(opt)
    return taken


def help_options(netctl, command):
    """Every --option the help of @command mentions (a superset of its own)."""
    p = run([netctl, "help"] + command.split())
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", p.stdout))


def global_options(netctl):
    """The options `netctl --help` lists before its commands."""
    out = run([netctl, "--help"]).stdout
    section = out.split("Options:", 1)[1].split("Commands:", 1)[0]
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]*|(?<![\w-])-[a-z]\b", section))


def netd_options(netd):
    """The options `netd --help` lists."""
    out = run([netd, "--help"]).stdout
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]*|(?<![\w-])-[a-z]\b", out))


def netd_takes(netd, opt):
    """Whether netd's parser knows @opt (getopt says "unrecognized" otherwise)."""
    p = run([netd, opt, "--socket", NOWHERE, "--help"], timeout=5)
    return "unrecognized option" not in p.stderr


def sockopt_names():
    """netd_sockopt_names[] of proto/methods.c."""
    with open(os.path.join(SOURCE_DIR, "proto", "methods.c")) as f:
        src = f.read()
    body = re.search(r"netd_sockopt_names\[\]\s*=\s*\{(.*?)\};", src, re.S)
    check(body, "netd_sockopt_names[] not found in proto/methods.c")
    names = re.findall(r'"([a-z0-9-]+)"', body.group(1))
    check(len(names) > 20, f"only {len(names)} socket options in proto/methods.c")
    return names


def openrpc():
    with open(os.path.join(SOURCE_DIR, "proto", "netd.openrpc.json")) as f:
        return json.load(f)


def method_names():
    return [m["name"] for m in openrpc()["methods"]]
