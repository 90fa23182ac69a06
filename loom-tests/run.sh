#!/usr/bin/env bash
# Runs every loom model of the kernel at its default preemption bound.
# Deeper: LOOM_MAX_PREEMPTIONS=4 loom-tests/run.sh (overrides every model's bound; slow).
set -euo pipefail
cd "$(dirname "$0")/.."
RUSTFLAGS="--cfg loom" COWHEAP_MUTANT= cargo test -p loom-tests --release --target-dir loom-target \
  --test models -- --test-threads=1 --nocapture "$@"
