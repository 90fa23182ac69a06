#!/usr/bin/env bash
# Instructions per bytecode under callgrind, a measure that machine load does not move: for
# each expression, the instructions inside the interpreter's run loop (`Exec::run` and what it
# calls; `--toggle-collect`), over the run's bytecodes. Counting only the run leaves out the
# image's load, whose threads vary by a million instructions from run to run: subtracting a
# `nil` run's count instead made a short expression (half a million bytecodes) read 2-3
# instructions a bytecode apart between runs of one binary. BIN is `cargo build --release -p
# cowheap-squeak --example evaluate` (with `--features plain-heap` for the plain heap; copy the
# binary aside between the two builds).
#
#   tools/instructions_per_bytecode.sh BIN IMAGE 'EXPR' ['EXPR' ...]
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 BIN IMAGE EXPR [EXPR...]" >&2; exit 2; }
BIN=$1 IMAGE=$2; shift 2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for expr in "$@"; do
  line=$("$BIN" "$IMAGE" "$expr")
  bytecodes=$(echo "$line" | awk '{for (i = 1; i < NF; i++) if ($i == "bytecodes") print $(i + 1)}')
  valgrind --tool=callgrind --toggle-collect='*Exec*::run' --callgrind-out-file="$out" \
    "$BIN" "$IMAGE" "$expr" >/dev/null 2>&1
  total=$(awk '/^(summary|totals):/ {print $2; exit}' "$out")
  awk -v e="$expr" -v t="$total" -v n="$bytecodes" \
    'BEGIN {printf "%s\t%.2f instructions per bytecode (%d bytecodes)\n", e, t / n, n}'
done
