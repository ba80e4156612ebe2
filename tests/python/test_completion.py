#!/usr/bin/env python3
"""The bash completion of netctl, run in a real bash against a real netd.

Sources completion/netctl.bash, sets COMP_WORDS/COMP_CWORD as bash would
for a command line, calls _netctl and reads COMPREPLY: a command prefix,
options, fixed words, and handle names that a real netd holds for this uid
(kept handles, made with netctl). Then holds the completion's tables to
netctl itself: every command in its table, every option its parser takes
(probed, see netctl_facts.py), every socket option of proto/methods.c and
every method of the OpenRPC document, and nothing that does not exist.
The zsh completion gets a syntax check (zsh -n), the same table checks,
and a real run: an interactive zsh on a pseudo-terminal, with compinit and
completion/ in its fpath, is typed command lines ending in TAB, and a key
bound to a widget writes out the line as completion left it.
"""

import os
import pty
import re
import shutil
import subprocess
import sys
import tempfile
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


class Zsh:
    """An interactive zsh on a pty. complete(line) types @line, a TAB and
    ^T, bound to a widget that appends the edited line to a file."""

    def __init__(self, zsh, netctl, env):
        self.dir = tempfile.mkdtemp(prefix="netd-zsh.")
        self.out = os.path.join(self.dir, "lines")
        master, slave = pty.openpty()
        env = dict(env, TERM="dumb", HOME=self.dir,
                   PATH=os.path.dirname(netctl) + os.pathsep + env.get("PATH", ""))
        self.proc = subprocess.Popen([zsh, "-f", "-i"], stdin=slave, stdout=slave, stderr=slave,
                                     env=env, start_new_session=True)
        os.close(slave)
        self.master = master
        self.n = 0
        comp = os.path.dirname(ZSH_COMPLETION)
        self.type("fpath=(%s $fpath); autoload -Uz compinit; compinit -u -D; "
                  "dumpbuf() { print -r -- \"<$BUFFER>\" >> %s; BUFFER=; }; zle -N dumpbuf; "
                  "bindkey '^T' dumpbuf\n" % (comp, self.out))
        check(self.complete("ready", tab=False) == "ready", "zsh did not start")

    def type(self, text):
        os.write(self.master, text.encode())

    def drain(self):
        try:
            while os.read(self.master, 65536):
                pass
        except (BlockingIOError, OSError):
            pass

    def complete(self, line, tab=True):
        self.type(line + ("\t" if tab else "") + "\x14")
        self.n += 1
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            os.set_blocking(self.master, False)
            self.drain()  # the terminal's output is not looked at, only read
            if os.path.exists(self.out):
                with open(self.out) as f:
                    lines = f.read().split("\n")
                if len(lines) > self.n:
                    m = re.fullmatch(r"<(.*)>", lines[self.n - 1])
                    check(m, f"zsh wrote {lines[self.n - 1]!r}")
                    return m.group(1)
            time.sleep(0.05)
        raise Failure(f"zsh did not finish completing {line!r}")

    def close(self):
        self.proc.kill()
        self.proc.wait()
        os.close(self.master)
        shutil.rmtree(self.dir, ignore_errors=True)


def test_zsh_live(netctl, netd, zsh):
    """zsh completes commands, options, words and a live handle."""
    ls = run([netctl, "--socket", netd.name, "--json", "ls"]).stdout
    for h in re.findall(r'"handle":"([^"]+)"', ls):
        run([netctl, "--socket", netd.name, "close", h])
    only = netctl_out(netctl, netd.name, "listen", "127.0.0.1", "0")[0]
    z = Zsh(zsh, netctl, dict(os.environ, NETD_SOCKET=netd.name))
    try:
        cases = [
            ("netctl cl", "netctl close "),
            ("netctl connect --bind-p", "netctl connect --bind-port="),
            ("netctl udp se", "netctl udp send "),
            (f"netctl wait {only} rea", f"netctl wait {only} readable "),
            ("netctl setsockopt %s tcp-no" % only, f"netctl setsockopt {only} tcp-nodelay "),
            ("netctl status ", f"netctl status {only} "),               # $NETD_SOCKET
            (f"netctl --socket {netd.name} close ", f"netctl --socket {netd.name} close {only} "),
            (f"netctl --socket {NOWHERE} close ", f"netctl --socket {NOWHERE} close "),
        ]
        for line, want in cases:
            got = z.complete(line)
            check(got == want, f"zsh: {line!r}<TAB> gave {got!r}, want {want!r}")
    finally:
        z.close()
    print(f"ok: zsh completion in a real zsh: {len(cases)} command lines, live handle {only}")


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
    equal_sets(set(top) - PENDING_COMMANDS, want_top - PENDING_COMMANDS,
               "commands offered vs netctl's table")
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


def test_zsh(cmds, netctl, netd):
    zsh = shutil.which("zsh")
    with open(ZSH_COMPLETION) as f:
        src = f.read()
    # The zsh file's tables say the same as netctl's.
    described = set(re.findall(r"^\s*'([a-z-]+):", src, re.M))
    equal_sets(described - PENDING_COMMANDS, {c.split()[0] for c in cmds} - PENDING_COMMANDS,
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
    test_zsh_live(netctl, netd, zsh)


def main():
    netd_bin, netctl = os.environ.get("NETD_BIN"), os.environ.get("NETCTL_BIN")
    if not netd_bin or not netctl:
        print("FAIL: NETD_BIN and NETCTL_BIN must be set (ctest sets them)", file=sys.stderr)
        return 1
    netd = Netd(netd_bin)
    try:
        test_against_netd(netctl, netd)
        cmds = test_tables(netctl)
        test_zsh(cmds, netctl, netd)
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    finally:
        netd.stop()
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
