"""netd_structure - what tools/measure-structure and tools/check-layers share.

Both tools look at the daemon's sources and object files the same way, so a
figure the measurement prints and a rule the check enforces can never mean
two different things. Python 3 standard library only; run nothing here, the
two tools call it.

What is defined here:
  - split_c(): a C file's code and its comments, apart, with line numbers kept.
  - kind_tests(), tls_uses(), tls_hooks(): the per-kind tests the issue counts.
  - daemon_objects(), symbols(), file_graph(), sccs(): the file-level call
    graph from the object files (nm), and its circles (Tarjan).
"""

import json
import os
import re
import shlex
import subprocess

# ---------------------------------------------------------------------------
# C text

def split_c(text):
    """Returns (code, comments): two strings as long as @text, line breaks
    kept. @code has comments and the insides of string and character
    literals blanked (the quotes stay); @comments has only the comments."""
    code, com = [], []
    i, n = 0, len(text)

    def blank(s):
        return "".join(c if c == "\n" else " " for c in s)

    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            code.append(blank(text[i:j]))
            com.append(text[i:j])
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            code.append(blank(text[i:j]))
            com.append(text[i:j])
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            code.append(c + blank(text[i + 1:j - 1]) + (text[j - 1] if j - 1 > i else ""))
            com.append(blank(text[i:j]))
            i = j
        else:
            code.append(c)
            com.append(c if c == "\n" else " ")
            i += 1
    return "".join(code), "".join(com)


def line_of(text, pos):
    return text.count("\n", 0, pos) + 1


def line_text(text, lineno):
    lines = text.split("\n")
    return lines[lineno - 1].strip() if 0 < lineno <= len(lines) else ""


# ---------------------------------------------------------------------------
# Kind tests

# A handle's kind is the member `kind`; its values are the HK_* enumerators.
KIND_MEMBER = "kind"
KIND_PREFIX = "HK_"

_MEMBER = r"(?:->|\.)\s*" + KIND_MEMBER + r"\b"
_CHAIN = r"(?:[\w.\[\]]|->)*"  # h, h->ops, s.h[i]->ops: what the kind is read from
KIND_PATTERNS = {
    # h->kind == HK_STREAM, h->kind != x, and the same written the other way round
    "cmp": re.compile(_MEMBER + r"\s*[!=]=|[!=]=\s*" + _CHAIN + r"(?:->|\.)\s*" + KIND_MEMBER
                      + r"\b"),
    # switch (h->kind) and switch (kind)
    "switch": re.compile(r"\bswitch\s*\(\s*[\w.\[\]>-]*\b" + KIND_MEMBER + r"\s*\)"),
    # kind == HK_LISTENER where the kind is not read from a member
    "const": re.compile(r"(?<![->.])\b\w*" + KIND_MEMBER + r"\s*[!=]=\s*" + KIND_PREFIX
                        + r"|\b" + KIND_PREFIX + r"\w+\s*[!=]=\s*\w*" + KIND_MEMBER + r"\b"),
    # kinds & (1u << h->kind): the kind tested against a set
    "mask": re.compile(r"<<\s*" + _CHAIN + r"(?:->|\.)\s*" + KIND_MEMBER + r"\b"),
}
KIND_PATTERNS["ops"] = re.compile(r"\bops\s*[!=]=\s*&|&\s*\w+_ops\s*[!=]=")
KIND_LABELS = {
    "cmp": "->kind ==/!=",
    "switch": "switch on a kind",
    "const": "kind ==/!= HK_* (no member)",
    "mask": "kind in a set (<< ->kind)",
    "ops": "ops table compared (ops == &x)",
    "pred": "kind set asked (in if or a call)",
}

# A set of kinds (1u << HK_STREAM | ...) is a declaration where a method says
# which kinds it accepts: handle_get_kind() then answers `wrong kind` for the
# others. Anywhere else in a call (handle_is(h, 1u << HK_LISTENER)) or in a
# condition (if (kinds & (1u << HK_X))) it is a kind test by another name.
KIND_SET = re.compile(r"<<\s*" + KIND_PREFIX + r"\w+")
KIND_SET_DECLARERS = ("handle_get_kind",)
_CALL_BEFORE = re.compile(r"(\w+)\s*$")
_DEFINE_BEFORE = re.compile(r"#\s*define\s+$")
_CONDITIONS = ("if", "while", "for", "switch", "return")


def _kind_set_asked(code, pos):
    """Whether the kind set at @pos is asked (a test), not declared. Walks out
    through the open parentheses around @pos to the first that belongs to a
    call or a condition."""
    depth = 0
    for i in range(pos - 1, -1, -1):
        c = code[i]
        if c in ";{}":
            break
        if c == ")":
            depth += 1
        elif c == "(":
            if depth:
                depth -= 1
                continue
            m = _CALL_BEFORE.search(code, 0, i)
            name = m.group(1) if m else None
            if name and _DEFINE_BEFORE.search(code, 0, m.start()):
                return False  # #define NAME (...): the set is being named
            if name in _CONDITIONS:
                return True
            if name and name != "sizeof" and not name[0].isdigit():
                return name not in KIND_SET_DECLARERS
    return False  # a set being defined (unsigned kinds = ..., #define ...)


def kind_tests(code):
    """The kind tests in @code (from split_c): a list of (line, what, offset)."""
    found = []
    for what, rx in KIND_PATTERNS.items():
        for m in rx.finditer(code):
            found.append((line_of(code, m.start()), what, m.start()))
    for m in KIND_SET.finditer(code):
        if _kind_set_asked(code, m.start()):
            found.append((line_of(code, m.start()), "pred", m.start()))
    found.sort()
    return found


TLS_MEMBER = re.compile(r"->\s*tls\b")
TLS_HOOK = re.compile(r"TLS hook", re.I)


def tls_uses(code):
    """Lines of @code that read or write a `->tls` member: a list of line numbers."""
    return [line_of(code, m.start()) for m in TLS_MEMBER.finditer(code)]


def tls_hooks(comments):
    """Lines of @comments that say "TLS hook"."""
    return [line_of(comments, m.start()) for m in TLS_HOOK.finditer(comments)]


def is_tls_file(rel):
    """A TLS file: in a folder named tls, or named tls*.c / tls*.h (the flat tree)."""
    parts = rel.split("/")
    return "tls" in parts[:-1] or parts[-1].startswith("tls")


def c_files(src, top="daemon"):
    """The .c and .h files under @src/@top, as paths relative to @src, sorted."""
    out = []
    for d, _, files in os.walk(os.path.join(src, top)):
        for f in files:
            if f.endswith((".c", ".h")):
                out.append(os.path.relpath(os.path.join(d, f), src))
    return sorted(out)


def read(src, rel):
    with open(os.path.join(src, rel), encoding="utf-8", errors="replace") as f:
        return f.read()


# ---------------------------------------------------------------------------
# Object files and the call graph

def daemon_objects(src, build, top="daemon"):
    """{source relative to @src: object path} for every source under @src/@top
    that @build's compile_commands.json compiles."""
    path = os.path.join(build, "compile_commands.json")
    with open(path, encoding="utf-8") as f:
        entries = json.load(f)
    root = os.path.realpath(os.path.join(src, top)) + os.sep
    objs = {}
    for e in entries:
        file = os.path.realpath(os.path.join(e["directory"], e["file"]))
        if not file.startswith(root):
            continue
        args = e.get("arguments") or shlex.split(e["command"])
        if "-o" not in args:
            continue
        obj = os.path.join(e["directory"], args[args.index("-o") + 1])
        objs[os.path.relpath(file, os.path.realpath(src))] = obj
    return objs


FUNCTION_TYPES = ("T", "W", "i")


def symbols(obj):
    """(defined, undefined): the global symbols @obj defines ({name: nm type})
    and those it needs (a set)."""
    out = subprocess.run(["nm", "-P", obj], check=True, capture_output=True, text=True).stdout
    defined, undefined = {}, set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        name, kind = parts[0], parts[1]
        if kind in ("U", "w", "v"):
            undefined.add(name)
        elif kind.isupper() or kind in ("u", "i"):
            defined[name] = kind
    return defined, undefined


def file_graph(objs, functions_only=False):
    """The file-level graph: {file: {file it uses: [symbols]}} where A uses B
    when A needs a global symbol that B defines (only B's functions when
    @functions_only: A calls B). Also returns {file: (defined, undefined)}."""
    syms = {f: symbols(o) for f, o in objs.items()}
    owner = {}
    for f, (d, _) in syms.items():
        for s, kind in d.items():
            if not functions_only or kind in FUNCTION_TYPES:
                owner.setdefault(s, f)
    graph = {f: {} for f in syms}
    for f, (_, u) in syms.items():
        for s in sorted(u):
            g = owner.get(s)
            if g and g != f:
                graph[f].setdefault(g, []).append(s)
    return graph, syms


def sccs(graph):
    """Tarjan's strongly connected components of @graph ({node: iterable of
    nodes}); a list of sorted member lists, largest first."""
    index, low, onstack, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        onstack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in onstack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                onstack.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    out.sort(key=lambda c: (-len(c), c))
    return out
