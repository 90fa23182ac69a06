#!/bin/bash
# Interpreter-only instructions (callgrind, Exec::run alone) a turn of a loop body run inside a
# block, whose temporaries live in a context as in every method that makes a block, less the
# empty loop's. Deterministic: load does not move it.
#
#   tools/block_loop_instructions.sh [BIN] 's := k' 's := t + k' 'a at: 3'
#
# The body sees `s` (3), `t` (4), `a` (an Array of 10) and the loop's `k`.
set -euo pipefail
BIN=${1:-target/release/cowheap}
shift || true
IMAGE=${IMAGE:-${COWHEAP_IMAGES:-../shared/images}/mini-2.2-v3-le.image}
N=200000
ir() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect='*Exec*::run' \
    "$BIN" run --json "$IMAGE" "$1" 2>&1 | awk '/Collected/ {print $4}'
}
wrap() { echo "[:s :t :a | 1 to: $N do: [:k | $1]. s] value: 3 value: 4 value: (Array new: 10)"; }
base=$(ir "$(wrap '')")
per_turn() { awk -v x="$1" -v n="$N" 'BEGIN { printf "%.1f", x / n }'; }
printf '%-30s %7s instructions a turn\n' '(the empty loop)' "$(per_turn "$base")"
for body in "$@"; do
  v=$(ir "$(wrap "$body")")
  printf '%-30s %7s instructions a turn\n' "$body" "$(per_turn "$((v - base))")"
done
