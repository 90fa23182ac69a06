#!/usr/bin/env bash
# Instructions per bytecode under callgrind, a measure that machine load does not move: for
# each expression, the instructions of a run of it less those of a run of `nil`, over the
# run's bytecodes. BIN is `cargo build --release -p cowheap-squeak --example evaluate` (with
# `--features plain-heap` for the plain heap; copy the binary aside between the two builds).
#
#   tools/instructions_per_bytecode.sh BIN IMAGE 'EXPR' ['EXPR' ...]
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 BIN IMAGE EXPR [EXPR...]" >&2; exit 2; }
BIN=$1 IMAGE=$2; shift 2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
instructions() {
  valgrind --tool=callgrind --callgrind-out-file="$out" "$BIN" "$IMAGE" "$1" >/dev/null 2>&1
  awk '/^(summary|totals):/ {print $2; exit}' "$out"
}
base=$(instructions nil)
for expr in "$@"; do
  line=$("$BIN" "$IMAGE" "$expr")
  bytecodes=$(echo "$line" | awk '{for (i = 1; i < NF; i++) if ($i == "bytecodes") print $(i + 1)}')
  total=$(instructions "$expr")
  awk -v e="$expr" -v t="$total" -v b="$base" -v n="$bytecodes" \
    'BEGIN {printf "%s\t%.1f instructions per bytecode (%d bytecodes)\n", e, (t - b) / n, n}'
done
