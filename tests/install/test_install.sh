#!/usr/bin/env bash
# Installs the build into a private prefix and builds a third party's
# program (echo_client.c) against that prefix only: once with
# `pkg-config --cflags --libs netd`, once as a CMake project with
# find_package(netd) (shared and static). Each program then runs against a
# real netd on a private abstract socket and a real TCP echo server.
#
# ctest sets: BUILD_DIR, NETD_VERSION, CC, CMAKE, SAN_FLAGS (the sanitizer
# flags of this build, which the programs must share), MAN_BUILT (ON/OFF).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/netd-install.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

prefix=$tmp/prefix
"$CMAKE" --install "$BUILD_DIR" --prefix "$prefix" > "$tmp/install.log" ||
    { cat "$tmp/install.log"; fail "cmake --install"; }
libdir=$(dirname "$(find "$prefix" -name netd.pc)")/..
libdir=$(cd "$libdir" && pwd)

# What a user finds there.
for f in bin/netd bin/netctl include/netd.h include/netd/errors.h include/netd/codec.h \
         share/doc/netd/README.md share/bash-completion/completions/netctl \
         share/zsh/site-functions/_netctl \
         lib/systemd/system/netd.service \
         lib/systemd/system/netd.socket; do
    [ -f "$prefix/$f" ] || fail "not installed: $f"
done
[ -f "$libdir/libnetd.a" ] || fail "no libnetd.a in $libdir"
[ -f "$libdir/libnetd.so.$NETD_VERSION" ] || fail "no libnetd.so.$NETD_VERSION in $libdir"
soname=$(readelf -d "$libdir/libnetd.so.$NETD_VERSION" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ "$soname" = "libnetd.so.${NETD_VERSION%%.*}" ] || fail "soname is '$soname'"
[ "$(readlink "$libdir/libnetd.so")" = "$soname" ] || fail "libnetd.so does not point at $soname"
if [ "$MAN_BUILT" = ON ]; then
    for m in man8/netd.8 man1/netctl.1 man7/netd-protocol.7; do
        [ -s "$prefix/share/man/$m" ] || fail "man page $m not installed"
    done
fi
grep -qx "ExecStart=$prefix/bin/netd" "$prefix/lib/systemd/system/netd.service" ||
    fail "netd.service does not start $prefix/bin/netd"
grep -q "file://$prefix/share/doc/netd/README.md" "$prefix/lib/systemd/system/netd.socket" ||
    fail "netd.socket does not point at the installed README"

# The library exports exactly the functions its installed headers declare.
# (Comments are stripped first: they may name internal functions.)
declared=$(cat "$prefix/include/netd.h" "$prefix"/include/netd/*.h |
           "${CC:-cc}" -fpreprocessed -dD -E -P - 2>/dev/null |
           grep -oE '\bnetd_[a-z0-9_]+\(' | tr -d '(' | sort -u)
exported=$(nm -D --defined-only "$libdir/libnetd.so" | awk '{print $3}' | grep -v '^_' | sort -u)
[ "$declared" = "$exported" ] ||
    fail "exports differ from the headers: $(diff <(echo "$declared") <(echo "$exported") | grep '^[<>]' | tr '\n' ' ')"

# The installed netd on a private name, and a TCP echo server on a free port.
sock="@netd-install-$$-$RANDOM"
"$prefix/bin/netd" --socket "$sock" --workers 1 --log-level warn 2> "$tmp/netd.log" &
pids+=($!)
python3 -u -c '
import socket, sys, threading
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True)
def echo(c):
    with c:
        while (d := c.recv(65536)):
            c.sendall(d)
while True:
    threading.Thread(target=echo, args=(s.accept()[0],), daemon=True).start()
' > "$tmp/echo.port" &
pids+=($!)
for _ in $(seq 100); do
    [ -s "$tmp/echo.port" ] && "$prefix/bin/netctl" --socket "$sock" --timeout 1 ping >/dev/null 2>&1 &&
        break
    sleep 0.05
done
port=$(cat "$tmp/echo.port")
[ -n "$port" ] || fail "the echo server did not start"
"$prefix/bin/netctl" --socket "$sock" ping >/dev/null || { cat "$tmp/netd.log"; fail "netd did not start"; }

run() { # NAME PROGRAM: runs it against netd and the echo server
    local out
    out=$("$2" "$sock" "$port") || fail "$1 exited $?: $out"
    [ "$out" = "echoed hello; then unknown handle" ] || fail "$1 printed '$out'"
    echo "ok: $1"
}

# 1. pkg-config, with nothing but the staged prefix to find.
export PKG_CONFIG_PATH=$libdir/pkgconfig
[ "$(pkg-config --modversion netd)" = "$NETD_VERSION" ] || fail "pkg-config --modversion netd"
read -ra pc <<< "$(pkg-config --cflags --libs netd)"
read -ra san <<< "${SAN_FLAGS:-}"
"$CC" -std=c11 -Wall -Wextra -Werror "${san[@]}" -o "$tmp/echo_pc" "$here/echo_client.c" "${pc[@]}"
# (Output is captured first: grep -q stopping early must not kill ldd under pipefail.)
deps=$(LD_LIBRARY_PATH=$libdir ldd "$tmp/echo_pc")
grep -q "libnetd.so.* => $libdir/libnetd.so" <<< "$deps" ||
    fail "echo_pc does not load the staged libnetd: $deps"
LD_LIBRARY_PATH=$libdir run "pkg-config program" "$tmp/echo_pc"

# The example of README.md's "Using the C library", built the way it says.
awk '/^## Using the C library/ {on = 1} on && /^```c$/ {code = 1; next}
     code && /^```$/ {exit} code {print}' "$here/../../README.md" > "$tmp/stats.c"
[ -s "$tmp/stats.c" ] || fail "no C example under '## Using the C library' in README.md"
"$CC" -Wall -Wextra -Werror "${san[@]}" "$tmp/stats.c" "${pc[@]}" -o "$tmp/stats"
out=$(NETD_SOCKET=$sock LD_LIBRARY_PATH=$libdir "$tmp/stats") || fail "the README example exited $?"
[[ $out =~ ^netd\ has\ served\ [1-9][0-9]*\ requests$ ]] || fail "the README example printed '$out'"
echo "ok: README example: $out"

# 2. A CMake project with find_package(netd): the shared and the static target.
"$CMAKE" -S "$here/project" -B "$tmp/project" -DCMAKE_PREFIX_PATH="$prefix" \
    -DNETD_WANT_VERSION="$NETD_VERSION" -DCMAKE_C_COMPILER="$CC" \
    -DCMAKE_C_FLAGS="${SAN_FLAGS:-}" -DCMAKE_EXE_LINKER_FLAGS="${SAN_FLAGS:-}" \
    > "$tmp/project.log" 2>&1 || { cat "$tmp/project.log"; fail "configuring the CMake project"; }
"$CMAKE" --build "$tmp/project" >> "$tmp/project.log" 2>&1 ||
    { cat "$tmp/project.log"; fail "building the CMake project"; }
grep -q "NEEDED.*\[$soname\]" <<< "$(readelf -d "$tmp/project/echo_shared")" ||
    fail "echo_shared needs no $soname"
if grep -q 'NEEDED.*libnetd' <<< "$(readelf -d "$tmp/project/echo_static")"; then
    fail "echo_static links libnetd dynamically"
fi
run "find_package program (netd::netd)" "$tmp/project/echo_shared"
run "find_package program (netd::netd_static)" "$tmp/project/echo_static"

kill "${pids[0]}"
wait "${pids[0]}" || fail "netd exited with status $? on SIGTERM: $(cat "$tmp/netd.log")"
pids=("${pids[@]:1}")
echo "PASS"
