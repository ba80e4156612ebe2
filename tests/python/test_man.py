#!/usr/bin/env python3
"""The man pages (docs/man/*.scd) say what the programs do.

netd(8): every option `netd --help` lists is documented, and every option
the page documents is one netd's parser knows. netctl(1): every command of
netctl's table has an entry, every option a command's parser takes (probed,
see netctl_facts.py) is in that command's entry, and every option an entry
names is taken by that command. netd-protocol(7): every method of the
OpenRPC document has an entry that names each of its parameters, and no
entry names a method netd lacks; every error code, notification, limit and
socket option is there. Runs netd and netctl only with --help, or with
arguments they refuse, so no netd needs to run.
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netctl_facts import (  # noqa: E402
    PENDING_COMMANDS, PENDING_OPTIONS, SOURCE_DIR, Failure, accepted_options, check, commands,
    global_options, help_options, netd_options, netd_takes, openrpc, sockopt_names)

MAN = os.path.join(SOURCE_DIR, "docs", "man")
OPT = re.compile(r"(?<![\w-])--?[a-z][a-z-]*")


def page(name):
    with open(os.path.join(MAN, name + ".scd")) as f:
        return f.read().replace("\\_", "_")


def section(text, title):
    """The text of '# TITLE' up to the next '# ' heading."""
    m = re.search(r"^# %s\n(.*?)(?=^# |\Z)" % re.escape(title), text, re.M | re.S)
    check(m, f"no section '# {title}'")
    return m.group(1)


def entries(text):
    """{term line: its body} for the terms (lines starting with '*') of a section."""
    out, term = {}, None
    for line in text.split("\n"):
        if line.startswith("*"):
            term = line
            out[term] = ""
        elif term is not None and (line.startswith("\t") or line == ""):
            out[term] += line + "\n"
        else:
            term = None
    return out


def opts_in(text):
    return set(OPT.findall(re.sub(r"[*_]", "", text)))


def test_netd(netd):
    text = page("netd.8")
    documented = {}
    for term, body in entries(section(text, "OPTIONS")).items():
        for opt in opts_in(term):
            documented[opt] = body
    listed = netd_options(netd)
    missing = listed - set(documented)
    check(not missing, f"netd --help lists {sorted(missing)}, netd(8) does not document it")
    for opt in documented:
        check(opt in PENDING_OPTIONS or netd_takes(netd, opt),
              f"netd(8) documents {opt}, which netd refuses")
    print(f"ok: netd(8) documents the {len(listed)} options of netd --help, all real")


def test_netctl(netctl):
    text = page("netctl.1")
    glob = opts_in(" ".join(entries(section(text, "GLOBAL OPTIONS")).keys()))
    missing = global_options(netctl) - glob
    check(not missing, f"netctl --help lists {sorted(missing)}, netctl(1) GLOBAL OPTIONS does not")

    cmds = commands(netctl)
    ents = entries(section(text, "COMMANDS"))
    by_cmd = {}
    for term, body in ents.items():
        # "*localname* _H_, *peername* _H_" documents two commands at once.
        for name in re.findall(r"\*([a-z][a-z.-]*(?: [a-z]+)?)\*(?= |,|$)", term):
            if not name.startswith("-") and name not in ("all", "r", "w", "rw") and \
                    name in set(cmds) | PENDING_COMMANDS:
                by_cmd[name] = (term, body)
    undocumented = [c for c in cmds if c not in by_cmd]
    check(not undocumented, f"netctl(1) has no entry for {undocumented}")
    candidates = set()
    for c in cmds:
        candidates |= help_options(netctl, c)
    for term, _ in by_cmd.values():
        candidates |= opts_in(term)
    # -h and --help are documented once for every command.
    check(re.search(r"Every command also takes \*-h\* and \*--help\*", text),
          "netctl(1) no longer says that every command takes -h and --help")
    for c in cmds:
        term, body = by_cmd[c]
        takes = accepted_options(netctl, c, candidates)
        missing = takes - opts_in(term + body) - {"-h", "--help"}
        check(not missing, f"netctl {c} takes {sorted(missing)}; its entry in netctl(1) omits it")
        extra = opts_in(term) - takes - PENDING_OPTIONS
        check(not extra, f"netctl(1) gives netctl {c} the options {sorted(extra)}, it refuses them")
    stale = set(by_cmd) - set(cmds) - PENDING_COMMANDS
    check(not stale, f"netctl(1) documents commands netctl lacks: {stale}")
    setsockopt = by_cmd["setsockopt"][1]
    lost = [o for o in sockopt_names() if not re.search(r"(?<![\w-])%s(?![\w-])" % o, setsockopt)]
    check(not lost, f"netctl(1) setsockopt omits the socket options {lost}")
    print(f"ok: netctl(1) documents all {len(cmds)} commands with the options each takes "
          f"(probed among {len(candidates)})")


def test_protocol():
    text = page("netd-protocol.7")
    doc = openrpc()
    methods = {m["name"]: m for m in doc["methods"]}
    ents = entries(section(text, "METHODS"))
    documented = {}
    for term, body in ents.items():
        for name in re.findall(r"\*([a-z][a-z.-]*)\* \{", term):
            documented[name] = term + body
    missing = [m for m in methods if m not in documented]
    check(not missing, f"netd-protocol(7) has no entry for the methods {missing}")
    extra = set(documented) - set(methods)
    check(not extra, f"netd-protocol(7) documents methods netd lacks: {sorted(extra)}")
    for name, m in methods.items():
        term = documented[name].split("\n", 1)[0]
        for p in m.get("params", []):
            check(re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(p["name"]), term),
                  f"netd-protocol(7): {name} lacks its parameter {p['name']}")
    codes = {e["code"] for e in doc["components"]["errors"].values()}
    errors = section(text, "ERRORS")
    lost = [c for c in sorted(codes) if str(c) not in errors]
    check(not lost, f"netd-protocol(7) ERRORS lacks the codes {lost}")
    notes = entries(section(text, "NOTIFICATIONS"))
    for n in doc["x-notifications"]:
        term = next((t for t in notes if t.startswith("*%s* {" % n["name"])), None)
        check(term, f"netd-protocol(7) lacks the notification {n['name']}")
        for p in n["params"]:
            name = p["name"].replace("_", "\\_")
            check(name in term or p["name"] in term,
                  f"netd-protocol(7): notification {n['name']} lacks {p['name']}")
    limits = section(text, "LIMITS")
    lost = [k for k in doc["x-limits"] if k not in limits]
    check(not lost, f"netd-protocol(7) LIMITS lacks {lost}")
    sockopts = documented["setsockopt"]
    lost = [o for o in sockopt_names() if not re.search(r"(?<![\w-])%s(?![\w-])" % o, sockopts)]
    check(not lost, f"netd-protocol(7) setsockopt omits {lost}")
    # The methods it says netd does not serve yet must really be missing.
    m = re.search(r"does not\s+serve yet(.*?)\n\n", limits, re.S)
    check(m, "netd-protocol(7) no longer says which contract methods are not served")
    served = [n for n in re.findall(r"\*([a-z.-]+)\*", m.group(1)) if n in methods]
    check(not served, f"netd-protocol(7) says {served} are not served yet, but they are")
    print(f"ok: netd-protocol(7) documents all {len(methods)} methods with their parameters, "
          f"{len(codes)} error codes, {len(doc['x-notifications'])} notifications, "
          f"{len(doc['x-limits'])} limits")


def main():
    netd, netctl = os.environ.get("NETD_BIN"), os.environ.get("NETCTL_BIN")
    if not netd or not netctl:
        print("FAIL: NETD_BIN and NETCTL_BIN must be set (ctest sets them)", file=sys.stderr)
        return 1
    try:
        test_netd(netd)
        test_netctl(netctl)
        test_protocol()
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
