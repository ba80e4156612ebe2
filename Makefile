# Entry points for people and CI. CMake does the building; this file only
# installs what a fresh Debian 12 machine lacks and runs the usual steps.

JOBS      ?= $(shell nproc)
MAKEFLAGS += --no-print-directory
NETD_ARGS ?=
SUDO      := $(if $(filter 0,$(shell id -u)),,sudo)

# clang and libclang-rt-dev (libFuzzer's runtime, which clang only
# recommends) build the fuzz targets; the sanitizer builds use gcc.
# autoconf, automake and libtool build netd's own wolfSSL with AES-NI from
# Debian's source package (tools/build-wolfssl, cmake/wolfssl.cmake).
PACKAGES  := build-essential cmake pkg-config libev-dev libjansson-dev libwolfssl-dev \
             autoconf automake libtool \
             libcmocka-dev libinih-dev python3 openssl socat iproute2 nodejs clang libclang-rt-dev \
             scdoc zsh
# scdoc turns docs/man/*.scd into man pages; zsh checks the zsh completion.
# npm installs what checks the OpenRPC document (tools/openrpc/, npm ci);
# Debian's package only where no npm is there yet (NodeSource's nodejs,
# which conflicts with it, brings its own).
PACKAGES  += $(if $(shell command -v npm 2>/dev/null),,npm)
# Nice to have: clang-format for `make format`.
OPTIONAL  := clang-format

APT_INSTALL := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends

SAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
           UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
           TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

.PHONY: deps openrpc-deps build run test asan tsan fuzz fuzz-ci bench format clean

# Packages dpkg does not report as installed; empty when there is nothing to do.
missing = $(strip $(foreach p,$(1),$(if $(shell dpkg-query -W -f='$${Status}' $(p) 2>/dev/null \
            | grep -q 'install ok installed' && echo y),,$(p))))

deps:
	@req="$(call missing,$(PACKAGES))"; opt="$(call missing,$(OPTIONAL))"; \
	[ -z "$$req$$opt" ] && exit 0; \
	echo "Installing: $$req $$opt"; \
	$(SUDO) apt-get update || exit 1; \
	[ -z "$$req" ] || $(APT_INSTALL) $$req || exit 1; \
	[ -z "$$opt" ] || $(APT_INSTALL) $$opt || echo "note: optional packages not installed: $$opt"
	@$(MAKE) openrpc-deps

# The OpenRPC checker's packages, exactly as tools/openrpc/package-lock.json
# pins them; again only when the lockfile is newer than what is installed.
OPENRPC_DIR := tools/openrpc
openrpc-deps:
	@command -v npm >/dev/null || { echo "note: no npm; the OpenRPC check will be skipped"; exit 0; }; \
	[ $(OPENRPC_DIR)/node_modules/.package-lock.json -nt $(OPENRPC_DIR)/package-lock.json ] || \
	  npm ci --prefix $(OPENRPC_DIR) --no-audit --no-fund

build: deps
	cmake -S . -B build -DNETD_WERROR=ON
	cmake --build build -j$(JOBS)

run: build
	exec build/netd --socket @netd $(NETD_ARGS)

test: build
	cd build && ctest --output-on-failure -j2

# Sanitizer builds live in their own directories so they never mix objects
# with the normal build. ctest inherits the exported options.
asan tsan: deps
	cmake -S . -B build-$@ -DCMAKE_BUILD_TYPE=Debug -DNETD_WERROR=ON \
	  -DNETD_SANITIZE=$(if $(filter asan,$@),address,thread) \
	  -DNETD_WOLFSSL_PREFIX=$(CURDIR)/build/wolfssl
	cmake --build build-$@ -j$(JOBS)
	cd build-$@ && env $(SAN_ENV) ctest --output-on-failure -j2

# libFuzzer targets (tests/fuzz/), built with clang, ASan and UBSan in
# build-fuzz/; each runs FUZZ_SECONDS. A crash fails the target and leaves
# its input in build-fuzz/fuzz/artifacts/<target>/ (run.sh prints the path).
FUZZ_SECONDS ?= 300
fuzz: deps
	cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DNETD_WOLFSSL_PREFIX=$(CURDIR)/build/wolfssl \
	  -DNETD_FUZZ=ON
	cmake --build build-fuzz -j$(JOBS) --target fuzz-targets
	env $(SAN_ENV) tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

# What CI runs: every target for 60 s.
fuzz-ci:
	$(MAKE) fuzz FUZZ_SECONDS=60

# netd-bench needs a netd to talk to: start one on a private name, wait until
# it answers, and stop it whatever the benchmark's outcome.
# redis-server and redis-tools give the ping phase its baseline
# (redis-benchmark); they are the bench's own, not make test's.
BENCH_PACKAGES := redis-server redis-tools
BENCH_SOCKET := @netd-bench-$(shell echo $$$$)
bench: build
	@req="$(call missing,$(BENCH_PACKAGES))"; [ -z "$$req" ] || \
	  { echo "Installing: $$req"; $(APT_INSTALL) $$req || echo "note: not installed: $$req"; }
	@build/netd --socket $(BENCH_SOCKET) --log-level warn & pid=$$!; \
	trap 'kill $$pid 2>/dev/null; wait $$pid' EXIT; \
	for i in $$(seq 50); do \
	  echo '{"jsonrpc":"2.0","id":1,"method":"ping"}' \
	    | socat -t1 - ABSTRACT-CONNECT:$(patsubst @%,%,$(BENCH_SOCKET)) 2>/dev/null \
	    | grep -q result && break; \
	  sleep 0.1; \
	done; \
	build/tests/bench/netd-bench --socket $(BENCH_SOCKET) $(BENCH_ARGS)

format:
	clang-format -i $$(git ls-files --cached --others --exclude-standard '*.c' '*.h')

clean:
	rm -rf build build-asan build-tsan build-fuzz
