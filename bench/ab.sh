#!/usr/bin/env bash
# Two builds of one command, run at the same time, one on each core, N
# times, swapping cores each round: on a shared machine whose speed moves by
# 20% or more between runs, both sides see the same machine. Prints the
# fastest, first-quartile and median wall time of each side (both cores
# busy, so slower than a run alone; compare the two, not with other runs).
#
# Usage: bench/ab.sh N OLD NEW ARGS...
#   e.g. bench/ab.sh 10 /tmp/bench_parse.old target/release/examples/bench_parse \
#            bench/out/837P-200M.edi --parse-only
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: bench/ab.sh N OLD NEW ARGS..." >&2
    exit 2
fi
N=$1 OLD=$2 NEW=$3
shift 3
command -v taskset > /dev/null || { echo "bench/ab.sh needs taskset (util-linux)" >&2; exit 2; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for i in $(seq "$N"); do
    if (( i % 2 )); then a=0 b=1; else a=1 b=0; fi
    # Timed in the shell, to the microsecond (`time -f %e` has 10 ms steps,
    # as much as the differences being looked for).
    for side in old new; do
        if [ $side = old ]; then bin=$OLD core=$a; else bin=$NEW core=$b; fi
        (
            t0=$EPOCHREALTIME
            taskset -c "$core" "$bin" "$@" > /dev/null
            t1=$EPOCHREALTIME
            echo "$side $t0 $t1" | awk '{ printf "%s %.4f\n", $1, $3 - $2 }' >> "$out"
        ) &
    done
    wait
done
for side in old new; do
    grep "^$side " "$out" | awk '{print $2}' | sort -n | awk -v side="$side" '
        { t[NR] = $1 }
        END { printf "%s: fastest %.4f s, first quartile %.4f s, median %.4f s (%d runs)\n",
              side, t[1], t[int((NR + 3) / 4)], t[int((NR + 1) / 2)], NR }'
done
