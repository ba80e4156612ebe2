#!/usr/bin/env python3
"""test_check_layers - tools/check-layers on small synthetic trees.

A clean tree of four layers (core, handle, tls, main.c), compiled with cc
into one static library per folder the way CMake lays a build out, must
pass; then each case below breaks one rule in a copy of it and the checker
must fail with that rule, at that place, and with no other rule. The clean
tree also holds what must not count: kind tests and ->tls in comments and
strings, a kind test in the handle layer, one in a statement (over two
lines) that picks an operations table, and a layer (handle) whose only
header is not named after it.

Run by ctest as structure/check-layers-selftest. Needs cc and ar.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CHECK = os.path.join(os.path.dirname(HERE), "check-layers")
FOLDERS = ["core", "handle", "tls"]  # lowest first; main.c on top

COMMENT3 = """/*
 * {name}.h - the {name} layer of the synthetic tree.
 *
 * It holds what its name says and uses only the layers below it;
 * the layers above reach it through this header.
 */
"""

CLEAN = {
    "daemon/layers.txt": "# lowest first\ncore\nhandle\ntls\nmain.c  # on top\n",
    "daemon/core/core.h": COMMENT3.format(name="core") + """#ifndef CORE_H
#define CORE_H
enum hkind { HK_A, HK_B };
struct obj {
    int kind;
    const void *ops;
    const struct obj *next;
    void *tls; /* a comment saying o->tls and o->kind == 1 does not count */
};
int core_twice(int x);
#endif
""",
    "daemon/core/core.c": """#include "core.h"

int core_twice(int x)
{
    return 2 * x;
}
""",
    "daemon/handle/handles.h": COMMENT3.format(name="handles") + """#ifndef HANDLE_H
#define HANDLE_H
#include "core.h"
int handle_is_one(const struct obj *o);
const struct obj *handle_get_kind(const struct obj *o, unsigned kinds);
int handle_is(const struct obj *o, unsigned kinds);
#endif
""",
    "daemon/handle/handle.c": """#include "handles.h"

int handle_is_one(const struct obj *o)
{
    return o->kind == 1 ? core_twice(1) : 0; /* the handle layer may */
}

const struct obj *handle_get_kind(const struct obj *o, unsigned kinds)
{
    return handle_is(o, kinds) ? o : 0;
}

int handle_is(const struct obj *o, unsigned kinds)
{
    return (kinds & (1u << o->kind)) != 0;
}
""",
    "daemon/tls/tls.h": COMMENT3.format(name="tls") + """#ifndef TLS_H
#define TLS_H
#include "handles.h"
int tls_has(const struct obj *o);
#endif
""",
    "daemon/tls/tls.c": """#include <string.h>
#include "tls.h"

#define BOTH ((1u << HK_A) | (1u << HK_B))

int tls_has(const struct obj *o)
{
    unsigned kinds = o->tls ? BOTH : 1u << HK_B; /* sets named, not asked */
    if (!handle_get_kind(o, kinds) || !handle_get_kind(o, (1u << HK_A) | (1u << HK_B)))
        return 0;
    return o->tls != 0 && handle_is_one(o);
}
""",
    "daemon/main.c": """#include <stdio.h>
#include "tls.h"

static const int plain_ops = 1, dgram_ops = 2;

int main(void)
{
    struct obj o = {0}, *p = &o;
    p->ops = p->kind == 2 ? (const void *)&dgram_ops
                          : (const void *)&plain_ops;
    puts("p->kind == 3 and p->tls in a string do not count");
    return tls_has(p);
}
""",
}


def build(root):
    """Compiles @root/daemon like CMake would: one libnetd_<folder>.a per
    folder (include dirs: the folder and those below), main.c alone, and a
    compile_commands.json."""
    b = os.path.join(root, "build")
    entries = []
    dirs = []
    for layer in FOLDERS + ["main.c"]:
        src = os.path.join(root, "daemon", layer)
        if layer != "main.c":
            dirs.append(src)
            cs = sorted(f for f in os.listdir(src) if f.endswith(".c"))
            odir = os.path.join(b, "daemon", layer, "CMakeFiles", f"netd_{layer}.dir")
        else:
            cs, src = ["main.c"], os.path.join(root, "daemon")
            odir = os.path.join(b, "daemon", "CMakeFiles", "netd.dir")
        os.makedirs(odir, exist_ok=True)
        objs = []
        for c in cs:
            obj = os.path.join(odir, c + ".o")
            cmd = ["cc", "-Wall", "-Werror"] + [f"-I{d}" for d in dirs] + \
                  ["-o", obj, "-c", os.path.join(src, c)]
            subprocess.run(cmd, check=True, cwd=b)
            entries.append({"directory": b, "command": " ".join(cmd),
                            "file": os.path.join(src, c)})
            objs.append(obj)
        if layer != "main.c":
            lib = os.path.join(b, "daemon", layer, f"libnetd_{layer}.a")
            subprocess.run(["ar", "rcs", lib] + objs, check=True)
    with open(os.path.join(b, "compile_commands.json"), "w") as f:
        json.dump(entries, f, indent=1)
    return b


def make_tree(root, edits=None):
    files = dict(CLEAN)
    for path, change in (edits or {}).items():
        files[path] = change(files.get(path)) if callable(change) else change
    for path, text in files.items():
        if text is None:
            continue
        p = os.path.join(root, path)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
    return build(root)


def check(root, b):
    r = subprocess.run([sys.executable, CHECK, "--src", root, "--build", b],
                       capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def sub(old, new, *more):
    """An edit replacing @old by @new (and each further pair of @more) once."""
    pairs = [(old, new)] + list(zip(more[::2], more[1::2]))

    def edit(text):
        for o, n in pairs:
            assert o in text, f"test bug: {o!r} not in the file"
            text = text.replace(o, n, 1)
        return text
    return edit


# Each case: name, edits to the clean tree, extra step on the built tree
# (or None), the rule and the place ("file:line" or "file") it must name.
CASES = [
    ("an upward include in a .c file",
     {"daemon/core/core.c": sub('#include "core.h"\n', '#include "core.h"\n#include "../handle/handles.h"\n')},
     None, "include", "daemon/core/core.c:2"),
    ("an upward include in a header",
     {"daemon/handle/handles.h": sub("#endif\n", '#include "../tls/tls.h"\n#endif\n')},
     None, "include", "daemon/handle/handles.h:13"),
    ("an upward call (a lower object needs a higher layer's symbol)",
     {"daemon/core/core.c": sub("    return 2 * x;",
                                "    int handle_is_one(const struct obj *o);\n"
                                "    return x ? 2 * x : handle_is_one(0);")},
     None, "link", "daemon/core/core.c: [link] uses handle_is_one"),
    ("a kind test outside the handle layer",
     {"daemon/tls/tls.c": sub("    return o->tls", "    if (o->kind != 3)\n        return 0;\n    return o->tls")},
     None, "kind", "daemon/tls/tls.c:11"),
    ("a switch on a kind outside the handle layer",
     {"daemon/main.c": sub("    return tls_has(p);", "    switch (p->kind) {\n    default:\n        break;\n    }\n    return tls_has(p);")},
     None, "kind", "daemon/main.c:12"),
    ("a kind tested against a set outside the handle layer",
     {"daemon/tls/tls.c": sub("    return o->tls", "    if (6u & (1u << o->kind))\n        return 0;\n    return o->tls")},
     None, "kind", "daemon/tls/tls.c:11"),
    ("a kind tested against a set through a chain of members",
     {"daemon/tls/tls.c": sub("    return o->tls != 0", "    if (o->next && (6u & (1u << o->next->kind)))\n        return 0;\n    return o->tls != 0")},
     None, "kind", "daemon/tls/tls.c:11"),
    ("a kind compared the other way round, through a chain",
     {"daemon/tls/tls.c": sub("    return o->tls != 0", "    if (o->next && 2 == o->next->kind)\n        return 0;\n    return o->tls != 0")},
     None, "kind", "daemon/tls/tls.c:11"),
    ("a kind set asked through a predicate outside the handle layer",
     {"daemon/tls/tls.c": sub("    return o->tls != 0", "    if (handle_is(o, 1u << HK_A))\n        return 1;\n    return o->tls != 0")},
     None, "kind", "daemon/tls/tls.c:11"),
    ("a kind set asked in a condition outside the handle layer",
     {"daemon/tls/tls.c": sub("    return o->tls != 0", "    if (kinds & (1u << HK_A))\n        return 1;\n    return o->tls != 0")},
     None, "kind", "daemon/tls/tls.c:11"),
    ("an operations table compared outside the handle layer",
     {"daemon/main.c": sub("    return tls_has(p);", "    if (p->ops == &plain_ops)\n        return 1;\n    return tls_has(p);")},
     None, "kind", "daemon/main.c:12"),
    ("->tls outside the tls layer",
     {"daemon/handle/handle.c": sub("    return o->kind", "    if (o->tls)\n        return 0;\n    return o->kind")},
     None, "tls", "daemon/handle/handle.c:5"),
    ("a layer header without a design comment",
     {"daemon/core/core.h": lambda t: "/* core.h */\n" + t.split("*/\n", 1)[1]},
     None, "header", "daemon/core/core.h:1"),
    ("a layer with two headers, none named after it",
     {"daemon/tls/tls.h": None, "daemon/tls/tls_api.h": CLEAN["daemon/tls/tls.h"],
      "daemon/tls/tls_int.h": COMMENT3.format(name="tls_int"),
      "daemon/tls/tls.c": sub('"tls.h"', '"tls_api.h"'),
      "daemon/main.c": sub('"tls.h"', '"tls_api.h"')},
     None, "header", "daemon/tls/:"),
    ("a source in no layer",
     {"daemon/stray.c": "int stray(void);\nint stray(void)\n{\n    return 0;\n}\n"},
     None, "layer", "daemon/stray.c:"),
    ("a library holding another folder's object",
     {}, "ar-extra", "library", "libnetd_core.a: [library] holds handle.c.o"),
    ("a layers.txt naming a folder that does not exist",
     {"daemon/layers.txt": sub("tls\n", "tls\nmethod\n")},
     None, "layer", "daemon/layers.txt:5"),
    ("a socket made outside core/creds.c",
     {"daemon/tls/tls.c": sub("#include <string.h>\n", "#include <string.h>\n#include <sys/socket.h>\n",
                              "    return o->tls != 0",
                              "    if (!o->next)\n        return socket(AF_INET, SOCK_STREAM, 0);\n"
                              "    return o->tls != 0")},
     None, "creds", "daemon/tls/tls.c: [creds] calls socket"),
    ("a file opened by wolfSSL outside core/creds.c",
     {"daemon/handle/handle.c": sub("int handle_is(const struct obj *o, unsigned kinds)\n{",
                                    "int wolfSSL_CTX_use_PrivateKey_file(void *ctx, const char *f, int t);\n"
                                    "int handle_is(const struct obj *o, unsigned kinds)\n{\n"
                                    "    if (!o)\n        return wolfSSL_CTX_use_PrivateKey_file(0, \"k\", 1);")},
     None, "creds", "daemon/handle/handle.c: [creds] calls wolfSSL_CTX_use_PrivateKey_file"),
    ("glibc's setuid, which changes every thread",
     {"daemon/core/core.c": sub('#include "core.h"\n', '#include <unistd.h>\n#include "core.h"\n',
                                "    return 2 * x;", "    return x ? 2 * x : setuid(0);")},
     None, "creds", "daemon/core/core.c: [creds] calls setuid"),
    ("main.c acting as netd beyond its control sockets",
     {"daemon/main.c": sub("#include <stdio.h>\n", "#include <stdio.h>\n#include <fcntl.h>\n",
                           "    return tls_has(p);",
                           "    if (o.kind)\n        return openat(0, \"x\", 0);\n    return tls_has(p);")},
     None, "creds", "daemon/main.c: [creds] calls openat"),
]

RULES = ["layer", "include", "library", "link", "kind", "tls", "header", "creds"]


def main():
    failures = 0
    tmp = tempfile.mkdtemp(prefix="check-layers-test-")
    try:
        root = os.path.join(tmp, "clean")
        rc, out = check(root, make_tree(root))
        if rc != 0 or "check-layers: ok" not in out:
            print(f"FAIL: the clean tree does not pass (rc {rc}):\n{out}")
            failures += 1
        else:
            print("ok: the clean tree passes")
        for i, (name, edits, step, rule, place) in enumerate(CASES):
            root = os.path.join(tmp, f"case{i}")
            b = make_tree(root, edits)
            if step == "ar-extra":
                obj = os.path.join(b, "daemon", "handle", "CMakeFiles", "netd_handle.dir",
                                   "handle.c.o")
                subprocess.run(["ar", "rcs", os.path.join(b, "daemon", "core", "libnetd_core.a"),
                                obj], check=True)
            rc, out = check(root, b)
            tags = {r for r in RULES if f"[{r}]" in out}
            if rc != 1 or tags != {rule} or place not in out:
                print(f"FAIL: {name}: want rc 1, only [{rule}], at {place!r}; got rc {rc}, "
                      f"rules {sorted(tags)}:\n{out}")
                failures += 1
            else:
                print(f"ok: {name}: {out.splitlines()[0]}")
    finally:
        shutil.rmtree(tmp)
    if failures:
        print(f"FAIL: {failures} case(s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
