#!/usr/bin/env bash
# Runs inbatch's cargo-fuzz (libFuzzer) targets, each for a bounded time.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60 s, every target)
#
# Works on a stable toolchain: cargo-fuzz is installed from crates.io when missing, targets are
# built with `--sanitizer none` (AddressSanitizer needs nightly; the engine is safe Rust plus
# tree-sitter) and RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its few unstable flags. Each target
# is seeded with the project's own Python, tests/fixtures/ and examples/ (read only; libFuzzer reads
# them recursively, so new fixtures seed it without copies), and adds what it finds to
# fuzz/target/corpus/<target>/, which later runs reuse. A crash leaves its input in
# fuzz/artifacts/<target>/ and makes this script exit 1; figures go to fuzz/target/summary.txt.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_PER_TARGET=${1:-60}
shift || true
ALL_TARGETS=(engine_bytes engine_python fix_apply incremental_edits)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz"
    cargo install cargo-fuzz --locked --version 0.13.2
fi

echo "==> building fuzz targets"
cargo fuzz build --sanitizer none

mkdir -p target/logs
SUMMARY=target/summary.txt
: > "$SUMMARY"
status=0
total=0
for target in "${TARGETS[@]}"; do
    work=target/corpus/$target
    mkdir -p "$work" "artifacts/$target"
    log=target/logs/$target.log
    echo "==> fuzzing $target for ${SECONDS_PER_TARGET}s"
    set +e
    cargo fuzz run --sanitizer none "$target" "$work" ../tests/fixtures ../examples -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=30 -rss_limit_mb=4096 \
        -max_len=16384 -print_final_stats=1 >"$log" 2>&1
    rc=$?
    set -e
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    runs=${runs:-0}
    total=$((total + runs))
    if [ "$rc" -ne 0 ]; then
        status=1
        echo "FAIL $target: exit $rc after $runs executions; log: fuzz/$log" | tee -a "$SUMMARY"
        grep -E "panicked|Test unit written|SUMMARY|ERROR" "$log" | head -20 || true
    else
        echo "ok $target: $runs executions in ${SECONDS_PER_TARGET}s, corpus $(ls "$work" | wc -l) files" |
            tee -a "$SUMMARY"
    fi
done
echo "total: $total executions, ${#TARGETS[@]} targets" | tee -a "$SUMMARY"
exit $status
