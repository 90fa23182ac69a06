#!/usr/bin/env bash
# Builds the kernel once per deliberately broken variant (COWHEAP_MUTANT=<name> sets
# --cfg cowheap_mutant="<name>" for cowheap alone) and runs the loom models against it.
# Every mutant must make at least one model fail; a surviving mutant fails this script.
set -uo pipefail
cd "$(dirname "$0")/.."
mutants=(relaxed_publish blind_overwrite early_id_release relaxed_id_acquire insert_without_cas
  relaxed_id_release relaxed_level_publish relaxed_level_link relaxed_install_load
  relaxed_install_failure relaxed_resolve_load)
survivors=0
for m in "${mutants[@]}"; do
  log=$(mktemp)
  start=$(date +%s)
  RUSTFLAGS="--cfg loom" COWHEAP_MUTANT="$m" cargo test -p loom-tests --release \
    --target-dir loom-target --test models -- --test-threads=1 >"$log" 2>&1
  status=$?
  secs=$(( $(date +%s) - start ))
  failed=$(grep -E '^test .* FAILED$' "$log" | sed -E 's/^test (.*) \.\.\. FAILED$/\1/' | tr '\n' ' ')
  if [ "$status" -ne 0 ] && [ -n "$failed" ]; then
    echo "caught   $m (${secs}s) by: $failed"
  elif [ "$status" -ne 0 ]; then
    echo "ERROR    $m: the build or harness failed, not a model:"; tail -20 "$log"; survivors=$((survivors + 1))
  else
    echo "SURVIVED $m: no model failed"; survivors=$((survivors + 1))
  fi
  rm -f "$log"
done
# Rebuild the honest kernel so later runs do not pick up a mutant by accident.
RUSTFLAGS="--cfg loom" COWHEAP_MUTANT= cargo build -p loom-tests --release --target-dir loom-target --tests -q 2>/dev/null || true
if [ "$survivors" -ne 0 ]; then
  echo "$survivors mutant(s) survived"
  exit 1
fi
echo "all ${#mutants[@]} mutants caught"
