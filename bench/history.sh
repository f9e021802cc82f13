#!/usr/bin/env bash
# The history store's benchmark: check over an 837P of SIZE (default 100M)
# with and without a store that holds PATIENTS (default 1000000) other
# patients plus the file's own recorded lines. Prints both throughputs and
# their ratio. Inputs go to bench/out/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-100M}
PATIENTS=${2:-1000000}
OUT=bench/out
mkdir -p "$OUT"
cargo build --release --quiet --bin scrub837 --example gen837 --example history_fill
f="$OUT/837P-$SIZE.edi"
[ -s "$f" ] || target/release/examples/gen837 --kind P --bytes "$SIZE" --seed 7 -o "$f"
store="$OUT/history-$PATIENTS.db"
export SCRUB837_HISTORY_KEY="benchmark key, not a secret"
if [ ! -s "$store" ]; then
    rm -f "$store" "$store-wal" "$store-shm"
    echo "filling $store with $PATIENTS patients..."
    target/release/examples/history_fill "$store" "$PATIENTS"
    target/release/scrub837 check --format json --history "$store" --record "$f" > /dev/null || true
fi
best() {
    local b=""
    for _ in 1 2 3; do
        local t0 t1
        t0=$(date +%s.%N)
        "$@" > /dev/null || true
        t1=$(date +%s.%N)
        local t; t=$(awk "BEGIN{print $t1-$t0}")
        if [ -z "$b" ] || awk "BEGIN{exit !($t < $b)}"; then b=$t; fi
    done
    echo "$b"
}
mb=$(stat -c %s "$f" | awk '{printf "%.1f", $1/1e6}')
plain=$(best target/release/scrub837 check --format json "$f")
hist=$(best target/release/scrub837 check --format json --history "$store" "$f")
echo "check:           $plain s, $(awk "BEGIN{printf \"%.1f\", $mb/$plain}") MB/s"
echo "check --history: $hist s, $(awk "BEGIN{printf \"%.1f\", $mb/$hist}") MB/s ($PATIENTS patients on record)"
echo "ratio: $(awk "BEGIN{printf \"%.2f\", $plain/$hist}")"
