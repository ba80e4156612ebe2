#!/usr/bin/env python3
"""The bash completion of netctl, run in a real bash against a real netd.

Sources completion/netctl.bash, sets COMP_WORDS/COMP_CWORD as bash would
for a command line, calls _netctl and reads COMPREPLY: a command prefix,
options, fixed words, and handle names that a real netd holds for this uid
(kept handles, made with netctl). Then holds the completion's tables to
netctl itself: every command in its table, every option its parser takes
(probed, see netctl_facts.py), every socket option of proto/methods.c and
every method of the OpenRPC document, and nothing that does not exist.
The zsh completion gets a syntax check (zsh -n) and the same table checks.
"""

import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netctl_facts import (  # noqa: E402
    NOWHERE, PENDING_COMMANDS, PENDING_OPTIONS, SOURCE_DIR, Failure, accepted_options,
    check, commands, global_options, help_options, method_names, run, sockopt_names)

BASH_COMPLETION = os.path.join(SOURCE_DIR, "completion", "netctl.bash")
ZSH_COMPLETION = os.path.join(SOURCE_DIR, "completion", "_netctl")


def complete_many(lines, env):
    """COMPREPLY for each command line in @lines (lists of COMP_WORDS, the
    last one being completed), all in one bash process."""
    script = ["source %s || exit 3" % sh_quote(BASH_COMPLETION)]
    for words in lines:
        script.append("COMP_WORDS=(%s); COMP_CWORD=%d; COMPREPLY=(); _netctl"
                      % (" ".join(sh_quote(w) for w in words), len(words) - 1))
        script.append("printf '%s\\n' \"${COMPREPLY[@]}\"; echo '-- end --'")
    p = subprocess.run(["bash", "--norc", "--noprofile", "-c", "\n".join(script)],
                       capture_output=True, text=True, timeout=60, env=env)
    check(p.returncode == 0, f"bash exited {p.returncode}: {p.stderr}")
    check(p.stderr == "", f"the completion wrote to stderr: {p.stderr}")
    replies = p.stdout.split("-- end --\n")[:-1]
    check(len(replies) == len(lines), f"{len(replies)} replies for {len(lines)} lines")
    return [[w for w in r.split("\n") if w] for r in replies]


def sh_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


def equal_sets(got, want, what):
    got, want = set(got), set(want)
    if got != want:
        raise Failure(f"{what}: missing {sorted(want - got)}, extra {sorted(got - want)}")


class Netd:
    def __init__(self, netd_bin):
        self.name = "@netd-completion-%d" % os.getpid()
        self.proc = subprocess.Popen([netd_bin, "--socket", self.name, "--workers", "1",
                                      "--log-level", "warn"])

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def netctl_out(netctl, sock, *args):
    p = run([netctl, "--socket", sock] + list(args))
    check(p.returncode == 0, f"netctl {' '.join(args)}: {p.stderr}")
    return p.stdout.split()


def test_against_netd(netctl, netd):
    for _ in range(100):
        if run([netctl, "--socket", netd.name, "ping"]).returncode == 0:
            break
        time.sleep(0.05)
    listener = netctl_out(netctl, netd.name, "listen", "127.0.0.1", "0")[0]
    pair = netctl_out(netctl, netd.name, "pair")
    addr = netctl_out(netctl, netd.name, "resolve", "127.0.0.1", "9")[0]
    handles = {listener, addr, *pair}
    check(len(handles) == 4, f"netd gave handles {handles}")
    # The names as `ls --json` reports them: the completion must offer exactly those.
    ls = run([netctl, "--socket", netd.name, "--json", "ls"]).stdout
    equal_sets(re.findall(r'"handle":"([^"]+)"', ls), handles, "handles in netctl --json ls")

    env = dict(os.environ, NETD_SOCKET=netd.name)
    lines = [
        [netctl, "cl"],                                   # a command prefix
        [netctl, "connect", "--bi"],                      # options with a prefix
        [netctl, "--socket", netd.name, "close", ""],     # handles, socket from --socket
        [netctl, "status", ""],                           # handles, socket from $NETD_SOCKET
        [netctl, "--socket", "=", netd.name, "read", listener[:2]],  # --socket=NAME, a prefix
        [netctl, "udp", "send", pair[0], "--to", ""],     # an option's value: a handle
        [netctl, "--socket", NOWHERE, "close", ""],       # no netd there: nothing, quietly
        [netctl, "wait", listener, "re"],                 # a fixed word
        [netctl, "--json", "=", "p"],                     # bash splits --json=p at "="
        [netctl, "udp", "s"],                             # a group's command
        [netctl, "ping", ""],                             # takes no argument
    ]
    got = complete_many(lines, env)
    equal_sets(got[0], ["close"], "netctl cl<TAB>")
    equal_sets(got[1], ["--bind", "--bind-port"], "netctl connect --bi<TAB>")
    equal_sets(got[2], handles, "netctl --socket NAME close <TAB>")
    equal_sets(got[3], handles, "NETD_SOCKET=NAME netctl status <TAB>")
    equal_sets(got[4], {h for h in handles if h.startswith(listener[:2])},
               "netctl --socket=NAME read PREFIX<TAB>")
    equal_sets(got[5], handles, "netctl udp send H --to <TAB>")
    equal_sets(got[6], [], "completion with no netd on the socket")
    equal_sets(got[7], ["readable", "resolved"], "netctl wait H re<TAB>")
    equal_sets(got[8], ["pretty"], "netctl --json=p<TAB> (the part after '=')")
    equal_sets(got[9], ["send"], "netctl udp s<TAB>")
    equal_sets(got[10], [], "netctl ping <TAB>")
    print(f"ok: completion against a real netd: {len(lines)} command lines; "
          f"handles {sorted(handles)}")
    # A handle closed in netd is no longer offered.
    run([netctl, "--socket", netd.name, "close", addr])
    got = complete_many([[netctl, "--socket", netd.name, "close", ""]], env)
    equal_sets(got[0], handles - {addr}, "handles after closing one")
    print("ok: a closed handle is no longer offered")


def test_tables(netctl):
    cmds = commands(netctl)
    lines = [[netctl, ""], [netctl, "udp", ""], [netctl, "-"],
             [netctl, "setsockopt", "h0.1", ""], [netctl, "call", ""]]
    top, udp, globs, sockopts, methods = complete_many(lines, os.environ)
    want_top = {c.split()[0] for c in cmds}
    equal_sets(set(top) - PENDING_COMMANDS, want_top, "commands offered vs netctl's table")
    equal_sets(udp, {c.split()[1] for c in cmds if c.startswith("udp ")}, "udp commands")
    equal_sets(sockopts, sockopt_names(), "socket options vs proto/methods.c")
    equal_sets(methods, method_names(), "methods vs proto/netd.openrpc.json")
    listed = global_options(netctl)
    check(listed <= set(globs), f"global options not offered: {sorted(listed - set(globs))}")
    extra = set(globs) - listed - PENDING_OPTIONS
    check(not extra, f"global options offered that netctl --help does not list: {extra}")

    # Per command: what the parser takes, probed among every option any
    # help or completion mentions.
    lines = [[netctl] + c.split() + ["--"] for c in cmds]
    offered = complete_many(lines, os.environ)
    candidates = set().union(*map(set, offered))
    for c in cmds:
        candidates |= help_options(netctl, c)
    for c, off in zip(cmds, offered):
        takes = accepted_options(netctl, c, candidates)
        missing = takes - set(off)
        check(not missing, f"netctl {c} takes {sorted(missing)}, the completion does not offer it")
        extra = set(off) - takes - PENDING_OPTIONS
        check(not extra, f"the completion offers {sorted(extra)} for netctl {c}, which refuses it")
    print(f"ok: {len(cmds)} commands, their options (probed among {len(candidates)}), "
          f"{len(sockopts)} socket options and {len(methods)} methods match netctl")
    return cmds


def test_zsh(cmds):
    zsh = shutil.which("zsh")
    with open(ZSH_COMPLETION) as f:
        src = f.read()
    # The zsh file's tables say the same as netctl's.
    described = set(re.findall(r"^\s*'([a-z-]+):", src, re.M))
    equal_sets(described - PENDING_COMMANDS, {c.split()[0] for c in cmds},
               "zsh: commands vs netctl's table")
    arrays = dict(re.findall(r"\b(methods|sockopts)=\(([^)]*)\)", src))
    equal_sets(arrays["methods"].split(), method_names(), "zsh: methods")
    equal_sets(arrays["sockopts"].split(), sockopt_names(), "zsh: socket options")
    if not zsh:
        print("note: zsh is not installed: only its tables were checked, not its syntax")
        return
    p = subprocess.run([zsh, "-n", ZSH_COMPLETION], capture_output=True, text=True)
    check(p.returncode == 0, f"zsh -n {ZSH_COMPLETION}: {p.stderr}")
    print("ok: zsh completion: syntax (zsh -n) and tables")


def main():
    netd_bin, netctl = os.environ.get("NETD_BIN"), os.environ.get("NETCTL_BIN")
    if not netd_bin or not netctl:
        print("FAIL: NETD_BIN and NETCTL_BIN must be set (ctest sets them)", file=sys.stderr)
        return 1
    netd = Netd(netd_bin)
    try:
        test_against_netd(netctl, netd)
        cmds = test_tables(netctl)
        test_zsh(cmds)
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    finally:
        netd.stop()
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
