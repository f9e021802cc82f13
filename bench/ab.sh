#!/usr/bin/env bash
# Two builds of one command, run at the same time, one on each core, N
# times, swapping cores each round: on a shared machine whose speed moves by
# 20% or more between runs, both sides see the same machine. Prints the
# fastest, first-quartile and median wall time of each side (both cores
# busy, so slower than a run alone; compare the two, not with other runs).
#
# With --alone, the two run one after the other on core 0 instead, the
# order swapped each round: the conditions `bench_parse` times its sides
# in. Side by side, the two streams share the memory system and the
# difference an instruction count makes can vanish: a build of the 837I
# parse without its SV2 read (11.6% fewer instructions) ran no faster side
# by side, and 10-15% faster alone, fastest and first quartile.
#
# Usage: bench/ab.sh [--alone] N OLD NEW ARGS...
#   e.g. bench/ab.sh --alone 16 /tmp/bench_parse.old \
#            target/release/examples/bench_parse bench/out/837P-200M.edi --parse-only
set -euo pipefail
ALONE=0
if [ "${1:-}" = --alone ]; then
    ALONE=1
    shift
fi
if [ $# -lt 3 ]; then
    echo "usage: bench/ab.sh [--alone] N OLD NEW ARGS..." >&2
    exit 2
fi
N=$1 OLD=$2 NEW=$3
shift 3
command -v taskset > /dev/null || { echo "bench/ab.sh needs taskset (util-linux)" >&2; exit 2; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# One timed run of SIDE's build on CORE, appended to the results. Timed in
# the shell, to the microsecond (`time -f %e` has 10 ms steps, as much as
# the differences being looked for).
run_one() {
    local side=$1 core=$2 bin t0 t1
    shift 2
    if [ "$side" = old ]; then bin=$OLD; else bin=$NEW; fi
    t0=$EPOCHREALTIME
    taskset -c "$core" "$bin" "$@" > /dev/null
    t1=$EPOCHREALTIME
    echo "$side $t0 $t1" | awk '{ printf "%s %.4f\n", $1, $3 - $2 }' >> "$out"
}
for i in $(seq "$N"); do
    if (( ALONE )); then
        # One at a time on one core, the first of the pair swapped each
        # round.
        if (( i % 2 )); then order="old new"; else order="new old"; fi
        for side in $order; do
            run_one "$side" 0 "$@"
        done
        continue
    fi
    if (( i % 2 )); then a=0 b=1; else a=1 b=0; fi
    run_one old "$a" "$@" &
    run_one new "$b" "$@" &
    wait
done
for side in old new; do
    grep "^$side " "$out" | awk '{print $2}' | sort -n | awk -v side="$side" '
        { t[NR] = $1 }
        END { printf "%s: fastest %.4f s, first quartile %.4f s, median %.4f s (%d runs)\n",
              side, t[1], t[int((NR + 3) / 4)], t[int((NR + 1) / 2)], NR }'
done
