#!/usr/bin/env bash
# The foundation's and the rule pack's benchmarks, on generated inputs:
#
#   1. parse into the claim model vs. a memchr-only tokenizer, 837P and 837I
#      of SIZE (default 200M), single-threaded: MB/s of both and the ratio;
#      then validate's read on JOBS threads (see below), and the parse a
#      stage at a time (reader, + loop builder, + claim model);
#   2. validate (--jobs 1, and the default: one thread per core, at most 8),
#      check and fix over one 837P of BIG (default 1G), in ROUNDS (default
#      3) rounds of one run each: wall time and peak memory
#      (/usr/bin/time), validate's speed-up on several threads, check's
#      time as a multiple of one-thread validate's and fix's throughput as
#      a share of check's, from the best times and round by round.
#
# Usage: bench/parse.sh [SIZE] [BIG]      Inputs go to bench/out/ (ignored
# by git); they are made once per size and seed and reused. JOBS (default:
# the cores, at most 8) is the thread count of the bench_parse figure.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-200M}
BIG=${2:-1G}
CORES=$(nproc 2>/dev/null || echo 1)
JOBS=${JOBS:-$((CORES < 8 ? CORES : 8))}
OUT=bench/out
mkdir -p "$OUT"
cargo build --release --quiet --bin scrub837 --example gen837 --example bench_parse
GEN=target/release/examples/gen837
for kind in P I; do
    f="$OUT/837$kind-$SIZE.edi"
    [ -s "$f" ] || "$GEN" --kind "$kind" --bytes "$SIZE" --seed 7 -o "$f"
    echo "== 837$kind, $SIZE"
    # Ten rounds: a slow spell of this shared machine moves a round's
    # ratio by a fifth either way, and the best of each side needs one
    # quiet round of its own.
    target/release/examples/bench_parse "$f" --runs 10 --jobs "$JOBS"
    echo "-- the parse a stage at a time"
    target/release/examples/bench_parse "$f" --runs 3 --stages
done
big="$OUT/837P-$BIG.edi"
[ -s "$big" ] || "$GEN" --kind P --bytes "$BIG" --seed 7 -o "$big"
echo "== 837P, $BIG"
target/release/examples/bench_parse "$big" --runs 5 --jobs "$JOBS"
echo "== validate and check, 837P, $BIG"
# The four commands run in rounds, one of each a round, so that a slow
# spell of this shared machine falls on all of them alike: timed one after
# another, a command's best could come from another spell than the one it
# is compared with. Each prints its best wall time and the peak memory of
# its last run; the ratios come from the best times and, round by round,
# as a median and range.
ROUNDS=${ROUNDS:-3}
names=("validate --jobs 1" "validate (default jobs, $CORES cores)" check fix)
# Command k is the array cmd_k, each word quoted as it should be.
bin=target/release/scrub837
cmd_0=("$bin" validate --jobs 1 --format json "$big")
cmd_1=("$bin" validate --format json "$big")
cmd_2=("$bin" check --format json "$big")
cmd_3=("$bin" fix "$big" -o "$OUT/fixed.edi" --format json)
declare -a best peak times
for ((r = 0; r < ROUNDS; r++)); do
    for k in 0 1 2 3; do
        declare -n cmd="cmd_$k"
        /usr/bin/time -f "%e %M" -o "$OUT/time.txt" "${cmd[@]}" > /dev/null || true
        unset -n cmd
        read -r secs kb < <(tail -n 1 "$OUT/time.txt")
        times[r * 4 + k]=$secs
        peak[k]=$kb
        if [ -z "${best[$k]:-}" ] || awk "BEGIN{exit !($secs < ${best[$k]})}"; then best[k]=$secs; fi
    done
done
rm -f "$OUT/fixed.edi"
mb=$(stat -L -c %s "$big" | awk '{printf "%.1f", $1/1e6}')
for k in 0 1 2 3; do
    echo "${names[$k]}: ${best[$k]} s, $(awk "BEGIN{printf \"%.1f\", $mb/${best[$k]}}") MB/s, peak $((peak[k] / 1024)) MiB"
done
# Median and range of a ratio over the rounds: $1 and $2 are the indices
# of the numerator's and the denominator's command in a round.
by_round() {
    for ((r = 0; r < ROUNDS; r++)); do
        awk "BEGIN{printf \"%.2f\\n\", ${times[r * 4 + $1]}/${times[r * 4 + $2]}}"
    done | sort -n | awk '{ x[NR] = $1 } END { printf "round by round: median %s, %s to %s over %d round(s)", x[int((NR + 1) / 2)], x[1], x[NR], NR }'
}
v=${best[0]} vn=${best[1]} c=${best[2]} f=${best[3]}
echo "validate speed-up, default jobs over --jobs 1: $(awk "BEGIN{printf \"%.2f\", $v/$vn}"); $(by_round 0 1)"
echo "check / validate --jobs 1 (time): $(awk "BEGIN{printf \"%.2f\", $c/$v}"); $(by_round 2 0)"
echo "fix / check (throughput): $(awk "BEGIN{printf \"%.2f\", $c/$f}"); $(by_round 2 3)"
