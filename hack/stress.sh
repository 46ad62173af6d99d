#!/usr/bin/env bash
# make stress: N rounds of `harness check --env local` with every scenario beside it (as make test-local runs them),
# each on a fresh embedded cluster,
# while another `harness check` runs beside them the whole time (load like a busy CI machine or laptop).
# Prints runs, failures and wall time; a failed run's output and kept run directory are listed at the end.
# Usage: hack/stress.sh [rounds]   (default 50)
set -uo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-50}
out=$(mktemp -d "${TMPDIR:-/tmp}/harness-stress-XXXXXX")
bin=${HARNESS_BIN:-./bin/harness}
start=$(date +%s)

# The neighbour: checks back to back until the rounds are done.
(
  while [ ! -e "$out/done" ]; do
    "$bin" check --env local --report-dir "$out/neighbour" >"$out/neighbour.log" 2>&1 || cp "$out/neighbour.log" "$out/neighbour-failed-$(date +%s).log"
  done
) &
neighbour=$!
trap 'touch "$out/done" 2>/dev/null; kill -INT $neighbour 2>/dev/null; wait $neighbour 2>/dev/null' EXIT

runs=0 failures=0
for i in $(seq 1 "$rounds"); do
  for cmd in "check --env local --report-dir $out/check --scenarios-report-dir $out/scenarios scenarios/*.yaml"; do
    runs=$((runs + 1))
    t0=$(date +%s)
    # shellcheck disable=SC2086
    if "$bin" $cmd >"$out/run.log" 2>&1; then
      status=ok
    else
      status=FAILED
      failures=$((failures + 1))
      cp "$out/run.log" "$out/failed-$runs.log"
    fi
    printf 'round %d/%d  %-60s %s (%ds)\n' "$i" "$rounds" "harness ${cmd%% --report-dir*}${cmd##*$out/scenarios}" "$status" $(($(date +%s) - t0))
  done
done
touch "$out/done"
wait $neighbour 2>/dev/null
neighbour_failures=$(ls "$out"/neighbour-failed-*.log 2>/dev/null | wc -l)
echo
echo "stress: $runs runs, $failures failed, $(($(date +%s) - start))s wall; the neighbour check failed $neighbour_failures time(s)"
ls "$out"/failed-*.log "$out"/neighbour-failed-*.log 2>/dev/null | sed 's/^/  failure log: /'
[ "$failures" -eq 0 ] && [ "$neighbour_failures" -eq 0 ] && rm -rf "$out"
[ "$failures" -eq 0 ]
