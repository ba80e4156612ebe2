#!/usr/bin/env bash
# Runs every libFuzzer target of BUILD_DIR for SECONDS each (make fuzz,
# make fuzz-ci). Each target starts from its seed corpus in the repository
# (tests/fuzz/corpus/<name>/, read only) plus the inputs earlier runs found
# (BUILD_DIR/fuzz/corpus/<name>/, where new ones are written). A crash, a
# sanitizer report, a leak or a failed property stops that target and
# leaves the input that caused it in BUILD_DIR/fuzz/artifacts/<name>/; the
# script goes on with the other targets and fails at the end.
set -uo pipefail

build=${1:?usage: run.sh BUILD_DIR SECONDS}
seconds=${2:?usage: run.sh BUILD_DIR SECONDS}
src=$(cd "$(dirname "$0")" && pwd)
targets=(proto dispatch)
failed=()
mkdir -p "$build/fuzz"
# Reproducers of this run are the files newer than this mark; older ones
# stay where they are, for whoever has not looked at them yet.
mark=$build/fuzz/.run-started
touch "$mark"

for t in "${targets[@]}"; do
    bin=$build/tests/fuzz/fuzz_$t
    work=$build/fuzz/corpus/$t
    art=$build/fuzz/artifacts/$t
    mkdir -p "$work" "$art"
    echo "== fuzz_$t for ${seconds} s (seeds: $src/corpus/$t, found: $work)"
    if "$bin" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$art/" \
        "$work" "$src/corpus/$t" >"$build/fuzz/$t.log" 2>&1; then
        grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$build/fuzz/$t.log"
        echo "-- fuzz_$t: no crash"
    else
        tail -n 60 "$build/fuzz/$t.log"
        echo "-- fuzz_$t FAILED; full log: $build/fuzz/$t.log"
        for f in $(find "$art" -type f -newer "$mark" | sort); do
            echo "   reproducer: $f ($(stat -c %s "$f") bytes)"
            echo "   run it again: $bin $f"
            # The bytes, so the log alone is enough to reproduce it.
            if [ "$(stat -c %s "$f")" -le 8192 ]; then
                echo "   base64: $(base64 -w0 "$f")"
            fi
        done
        failed+=("fuzz_$t")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzing found a problem in: ${failed[*]}"
    exit 1
fi
