#!/usr/bin/env bash
# Builds the kernel once per deliberately broken variant (COWHEAP_MUTANT=<name> sets
# --cfg cowheap_mutant="<name>" for cowheap alone) and runs the loom models that should catch
# it (all of them with MUTANTS_ALL_MODELS=1). Every mutant must make at least one model fail;
# a surviving mutant fails this script.
set -uo pipefail
cd "$(dirname "$0")/.."
growth="three_inserts_while_growing inserts_grow_a_second_level census_races_growth"
ids="id_reuse_after_teardown id_reuse_after_reclaim"
reclaim="reclaim_races_reader reclaim_races_insert level_unlink_races_census"
mutants=(
  "relaxed_publish:cow_race_with_reader fixup_races_install"
  "relaxed_observe:cow_race_with_reader"
  "blind_overwrite:cow_race_with_reader"
  "early_id_release:$ids"
  "relaxed_id_acquire:$ids stats_read_races_handover"
  "relaxed_id_release:$ids stats_read_races_handover"
  "insert_without_cas:inserts_race_for_a_freed_entry"
  "relaxed_level_publish:$growth"
  "relaxed_level_link:$growth"
  "retire_without_flag:$reclaim"
  "no_grace_period:$reclaim"
  "plain_snapshot:$reclaim"
  "relaxed_section_enter:$reclaim"
  "reserve_in_closed_level:level_close_races_insert"
  "unlink_unmarked:level_close_races_insert"
  "seqlock_no_release_fence:stats_read_races_handover"
  "seqlock_no_acquire_fence:stats_read_races_handover"
  "seqlock_relaxed_close:stats_read_races_handover"
)
survivors=0
for spec in "${mutants[@]}"; do
  m=${spec%%:*}
  models=${spec#*:}
  [ "${MUTANTS_ALL_MODELS:-0}" = 1 ] && models=""
  log=$(mktemp)
  start=$(date +%s)
  # shellcheck disable=SC2086 # the model names are separate filters
  RUSTFLAGS="--cfg loom" COWHEAP_MUTANT="$m" cargo test -p loom-tests --release \
    --target-dir loom-target --test models -- --test-threads=1 --exact $models >"$log" 2>&1
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
