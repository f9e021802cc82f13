#!/usr/bin/env bash
# The foundation's and the rule pack's benchmarks, on generated inputs:
#
#   1. parse into the claim model vs. a memchr-only tokenizer, 837P and 837I
#      of SIZE (default 200M), single-threaded: MB/s of both and the ratio;
#      then validate's read on JOBS threads (see below), and the parse a
#      stage at a time (reader, + loop builder, + claim model);
#   2. validate (--jobs 1, and the default: one thread per core, at most 8),
#      check and fix over one 837P of BIG (default 1G): wall time and peak
#      memory (/usr/bin/time), validate's speed-up on several threads,
#      check's time as a multiple of one-thread validate's and fix's
#      throughput as a share of check's.
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
    target/release/examples/bench_parse "$f" --runs 5 --jobs "$JOBS"
    echo "-- the parse a stage at a time"
    target/release/examples/bench_parse "$f" --runs 3 --stages
done
big="$OUT/837P-$BIG.edi"
[ -s "$big" ] || "$GEN" --kind P --bytes "$BIG" --seed 7 -o "$big"
echo "== 837P, $BIG"
target/release/examples/bench_parse "$big" --runs 3 --jobs "$JOBS"
echo "== validate and check, 837P, $BIG"
measure() {
    local name=$1; shift
    # Best of three wall times; peak memory of the last run.
    local best=""
    for _ in 1 2 3; do
        /usr/bin/time -f "%e %M" -o "$OUT/time.txt" "$@" > /dev/null || true
        read -r secs kb < <(tail -n 1 "$OUT/time.txt")
        if [ -z "$best" ] || awk "BEGIN{exit !($secs < $best)}"; then best=$secs; fi
    done
    local mb
    mb=$(stat -L -c %s "$big" | awk '{printf "%.1f", $1/1e6}')
    echo "$name: $best s, $(awk "BEGIN{printf \"%.1f\", $mb/$best}") MB/s, peak $((kb / 1024)) MiB" >&2
    echo "$best"
}
v=$(measure "validate --jobs 1" target/release/scrub837 validate --jobs 1 --format json "$big")
vn=$(measure "validate (default jobs, $CORES cores)" target/release/scrub837 validate --format json "$big")
c=$(measure check target/release/scrub837 check --format json "$big")
f=$(measure fix target/release/scrub837 fix "$big" -o "$OUT/fixed.edi" --format json)
rm -f "$OUT/fixed.edi"
echo "validate speed-up, default jobs over --jobs 1: $(awk "BEGIN{printf \"%.2f\", $v/$vn}")"
echo "check / validate --jobs 1 (time): $(awk "BEGIN{printf \"%.2f\", $c/$v}")"
echo "fix / check (throughput): $(awk "BEGIN{printf \"%.2f\", $c/$f}")"
