#!/bin/sh
# tools/bench/run.sh — the benchmark driver behind `make bench`.
#
#   sh tools/bench/run.sh BUILD [SECTION...]
#
# Runs each section in turn (all of them, or the SECTIONs named here or in
# BENCH_ONLY=a,b), each printing a header and its figures, then a summary
# table of every figure. A section whose binary is missing is skipped with a
# note. The make target has built $BUILD/stratad, $BUILD/strata and every
# $BUILD/bench/<n> first. Scratch files live in a mktemp -d folder removed on
# exit. POSIX sh; python3 only as a fallback clock where date lacks %N.
#
# Sections:
#   gen   strata gen cpu to a file and to a pipe (full precision, --decimals 2),
#         strata gen plant to a pipe: MB/s
#   lp    $BUILD/bench/bench_lp on the gen file (line protocol parse)
#   num   $BUILD/bench/bench_num (number parse/format)
#
# Environment:
#   BENCH_ONLY=gen,lp     run only these sections
#   BENCH_HOSTS=100       gen size: hosts ...
#   BENCH_POINTS=10000    ... and points per host (100 x 10000 = 1M lines, ~490 MB)
#   BENCH_SEED=1
#   BENCH_TMPDIR=DIR      where the scratch folder goes (default $TMPDIR or /tmp)
#   NAB_DIR=DIR           (later sections) an existing data set to use
#
# Adding a section: write bench_<name>() using fig/section/skip below, and
# list it in SECTIONS.

# Functions are called indirectly ("bench_$s"), which shellcheck cannot follow.
# shellcheck disable=SC2317
set -u

BUILD=${1:-build}
[ $# -gt 0 ] && shift
SECTIONS="gen lp num"
ONLY=${BENCH_ONLY:-}
if [ $# -gt 0 ]; then ONLY=$(echo "$*" | tr ' ' ','); fi
HOSTS=${BENCH_HOSTS:-100}
POINTS=${BENCH_POINTS:-10000}
SEED=${BENCH_SEED:-1}
STRATA_BIN=$BUILD/strata

SCRATCH=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/strata-bench.XXXXXX") || exit 1
trap 'rm -rf "$SCRATCH"' EXIT
trap 'rm -rf "$SCRATCH"; exit 130' INT TERM
FIGS=$SCRATCH/figures.tsv
: > "$FIGS"
FAILED=0

# ---- helpers ----

if [ "$(date +%N 2>/dev/null | tr -d '0-9')" = "" ] && [ -n "$(date +%N 2>/dev/null)" ]; then
    now_ns() { date +%s%N; }
else
    now_ns() { python3 -c 'import time; print(time.time_ns())'; }
fi

section() { printf '\n== %s: %s\n' "$1" "$2"; CUR=$1; }
skip() { printf '   skipped: %s\n' "$1"; printf '%s\t%s\t%s\n' "$CUR" "(skipped)" "$1" >> "$FIGS"; }
# fig NAME VALUE UNIT — print one figure and remember it for the summary.
fig() { printf '   %-28s %12s %s\n' "$1" "$2" "$3"; printf '%s\t%s\t%s %s\n' "$CUR" "$1" "$2" "$3" >> "$FIGS"; }
fail() { printf '   FAILED: %s\n' "$1"; printf '%s\t%s\t%s\n' "$CUR" "(failed)" "$1" >> "$FIGS"; FAILED=1; }
# rate BYTES NS -> MB/s (10^6 bytes) with one decimal
rate() { awk -v b="$1" -v ns="$2" 'BEGIN { if (ns <= 0) ns = 1; printf "%.1f", b / (ns / 1e9) / 1e6 }'; }
secs() { awk -v ns="$1" 'BEGIN { printf "%.2f", ns / 1e9 }'; }
wanted() {
    [ -z "$ONLY" ] && return 0
    case ",$ONLY," in *",$1,"*) return 0 ;; esac
    return 1
}
# run_bin NAME PREFIX CMD... — run a bench program, echo its output, and turn
# each "PREFIX: text" line into a summary figure.
run_bin() {
    name=$1; prefix=$2; shift 2
    if ! "$@" > "$SCRATCH/$name.out" 2>&1; then
        sed 's/^/   /' "$SCRATCH/$name.out"
        fail "$name exited non-zero"
        return 1
    fi
    sed 's/^/   /' "$SCRATCH/$name.out"
    grep "^$prefix:" "$SCRATCH/$name.out" | sed "s/^$prefix:[[:space:]]*//" | while IFS= read -r l; do
        # "label rest..." becomes figure label; a line starting with a number keeps the program's name
        first=${l%% *}
        case "$first" in
            [0-9.]* | "$l") printf '%s\t%s\t%s\n' "$CUR" "$name" "$l" ;;
            *) printf '%s\t%s\t%s\n' "$CUR" "$first" "${l#* }" ;;
        esac >> "$FIGS"
    done
}

GEN_FILE=$SCRATCH/cpu.lp
GEN_ARGS="cpu --hosts $HOSTS --points $POINTS --seed $SEED"

# Make the gen file if an earlier section has not (lp needs it without gen).
need_gen_file() {
    [ -s "$GEN_FILE" ] && return 0
    [ -x "$STRATA_BIN" ] || return 1
    # shellcheck disable=SC2086
    "$STRATA_BIN" gen $GEN_ARGS --output "$GEN_FILE"
}

# ---- sections ----

bench_gen() {
    section gen "strata gen $GEN_ARGS"
    if [ ! -x "$STRATA_BIN" ]; then skip "$STRATA_BIN not built"; return; fi
    for mode in full dec2; do
        extra=""; out=$GEN_FILE
        [ "$mode" = dec2 ] && { extra="--decimals 2"; out=$SCRATCH/cpu_dec2.lp; }
        t0=$(now_ns)
        # shellcheck disable=SC2086
        if ! "$STRATA_BIN" gen $GEN_ARGS $extra --output "$out"; then fail "gen $mode"; continue; fi
        t1=$(now_ns)
        bytes=$(wc -c < "$out" | tr -d ' ')
        fig "gen_file_$mode" "$(rate "$bytes" $((t1 - t0)))" "MB/s ($bytes bytes in $(secs $((t1 - t0))) s)"
    done
    rm -f "$SCRATCH/cpu_dec2.lp"
    for mode in full dec2 plant; do
        args=$GEN_ARGS
        [ "$mode" = dec2 ] && args="$GEN_ARGS --decimals 2"
        [ "$mode" = plant ] && args="plant --units $HOSTS --points $POINTS --seed $SEED"
        t0=$(now_ns)
        # shellcheck disable=SC2086
        bytes=$("$STRATA_BIN" gen $args | wc -c | tr -d ' ')
        t1=$(now_ns)
        fig "gen_pipe_$mode" "$(rate "$bytes" $((t1 - t0)))" "MB/s ($bytes bytes through a pipe in $(secs $((t1 - t0))) s)"
    done
    lines=$((HOSTS * POINTS))
    fig "gen_lines" "$lines" "lines ($((lines * 10)) values)"
}

bench_lp() {
    section lp "line protocol parse ($BUILD/bench/bench_lp on the gen file)"
    if [ ! -x "$BUILD/bench/bench_lp" ]; then skip "$BUILD/bench/bench_lp not built"; return; fi
    if ! need_gen_file; then skip "no gen file ($STRATA_BIN missing or failed)"; return; fi
    run_bin bench_lp bench_lp "$BUILD/bench/bench_lp" "$GEN_FILE"
}

bench_num() {
    section num "number parse/format ($BUILD/bench/bench_num)"
    if [ ! -x "$BUILD/bench/bench_num" ]; then skip "$BUILD/bench/bench_num not built"; return; fi
    run_bin bench_num bench_num "$BUILD/bench/bench_num"
}

# ---- main ----

printf 'strata bench  %s  %s  %s cpus  build=%s\n' \
    "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" \
    "$(uname -sm)" "$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?')" "$BUILD"
model=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n 1)
[ -n "$model" ] && printf 'cpu: %s\n' "$model"

for s in $SECTIONS; do
    wanted "$s" && "bench_$s"
done
if [ -n "$ONLY" ]; then
    for s in $(echo "$ONLY" | tr ',' ' '); do
        case " $SECTIONS " in *" $s "*) ;; *) printf '\nunknown section: %s (known: %s)\n' "$s" "$SECTIONS"; FAILED=1 ;; esac
    done
fi

printf '\n== summary\n'
printf '%-8s %-24s %s\n' section figure value
printf '%-8s %-24s %s\n' ------- ----------------------- -----
while IFS="$(printf '\t')" read -r sec name val; do
    printf '%-8s %-24s %s\n' "$sec" "$name" "$val"
done < "$FIGS"
exit $FAILED
