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
#   ingest  $BUILD/bench/loadgen posts the gen file to stratad (--wal-fsync group
#         and interval), InfluxDB 1.6 and VictoriaMetrics 1.79: values/s until
#         counted, peak RSS, ratios (see the section's comment)
#
# Environment:
#   BENCH_ONLY=gen,lp     run only these sections
#   BENCH_HOSTS=100       gen size: hosts ...
#   BENCH_POINTS=10000    ... and points per host (100 x 10000 = 1M lines, ~490 MB)
#   BENCH_SEED=1
#   BENCH_TMPDIR=DIR      where the scratch folder goes (default $TMPDIR or /tmp)
#   NAB_DIR=DIR           (later sections) an existing data set to use
#   BENCH_INGEST_RUNS=1   ingest: runs per target (median); BENCH_INGEST_TARGETS,
#                         _CONNS, _BATCH, _POLL_S: see the ingest section
#
# Adding a section: write bench_<name>() using fig/section/skip below, and
# list it in SECTIONS.

# Functions are called indirectly ("bench_$s"), which shellcheck cannot follow.
# shellcheck disable=SC2317
set -u

BUILD=${1:-build}
[ $# -gt 0 ] && shift
SECTIONS="gen lp num enc wal sindex ingest"
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

# ---- ingest: HTTP line-protocol write throughput, Strata and its peers ----
#
# For each target: start it on 127.0.0.1 (a free port, a data dir under
# $SCRATCH), post the gen file with $BUILD/bench/loadgen (BENCH_INGEST_CONNS
# connections, default 2; BENCH_INGEST_BATCH lines per request, default
# 5000), then poll a count until every value is visible.
#   values/s = values / (loadgen's time to the last ack + time from the last
#              ack until the count query that saw everything was sent)
#   peak RSS = the server's VmHWM (/proc/PID/status), read before it stops.
# BENCH_INGEST_RUNS=N (default 1) repeats each target with a fresh data dir
# and reports the median values/s and the largest peak RSS.
# BENCH_INGEST_TARGETS (default "strata_group strata_interval influxdb vm").
# Peers come from Debian's influxdb and victoria-metrics packages; when one is
# missing the section tries apt-get install once and skips the peer with a
# note if that fails. Every server is stopped by PID when its run ends (and by
# the EXIT/INT/TERM trap while the section runs).

ING_PID=""
ING_DIR=""
ING_PORT=""
ING_POLL_S=${BENCH_INGEST_POLL_S:-300}
ING_CONNS=${BENCH_INGEST_CONNS:-2}
ING_BATCH=${BENCH_INGEST_BATCH:-5000}
ING_RUNS=${BENCH_INGEST_RUNS:-1}
ING_TARGETS=${BENCH_INGEST_TARGETS:-strata_group strata_interval influxdb vm}
# gen's default start (2016-01-01T00:00:00Z, TSBS's) and step (10 s)
ING_START_S=1451606400
ING_STEP_S=10

ingest_stop() {
    if [ -n "$ING_PID" ]; then
        kill "$ING_PID" 2>/dev/null
        n=0
        while kill -0 "$ING_PID" 2>/dev/null && [ "$n" -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
        kill -9 "$ING_PID" 2>/dev/null
        wait "$ING_PID" 2>/dev/null
        ING_PID=""
    fi
    if [ -n "$ING_DIR" ]; then rm -rf "$ING_DIR"; ING_DIR=""; fi
}

# A TCP port nobody on this machine has bound (random in 20000-59999).
ingest_free_port() {
    n=0
    while [ "$n" -lt 100 ]; do
        n=$((n + 1))
        r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
        p=$((20000 + r % 40000))
        hex=$(printf '%04X' "$p")
        if ! cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '{print $2}' | grep -q ":$hex\$"; then
            echo "$p"; return 0
        fi
    done
    return 1
}

# ingest_wait_http URL SECONDS — until URL answers 2xx and the server lives.
ingest_wait_http() {
    n=0
    while [ "$n" -lt $(($2 * 10)) ]; do
        kill -0 "$ING_PID" 2>/dev/null || return 1
        curl -sf -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.1; n=$((n + 1))
    done
    return 1
}

ingest_hwm_mib() {
    awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null
}

# ingest_need_pkg BINARY PACKAGE — 0 if BINARY is (now) on PATH.
ingest_need_pkg() {
    command -v "$1" > /dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null 2>&1; then
        printf '   %s missing: apt-get install -y %s\n' "$1" "$2"
        DEBIAN_FRONTEND=noninteractive apt-get install -y "$2" > "$SCRATCH/apt-$2.log" 2>&1 ||
            tail -n 3 "$SCRATCH/apt-$2.log" | sed 's/^/   /'
    fi
    command -v "$1" > /dev/null 2>&1
}

# Sum of the numbers in the first row of an InfluxDB-style JSON result
# ("values":[["1970-01-01T00:00:00Z",n1,n2,...]]); empty if there is none.
ingest_json_row_sum() {
    sed -n 's/.*"values":\[\[[^,]*,\([^]]*\)\]\].*/\1/p' | tr ',' '\n' |
        awk '/^[0-9.eE+-]+$/ { s += $1; n++ } END { if (n) printf "%.0f", s }'
}

# Start functions: set ING_PID, ING_PORT, ING_DIR; return non-zero to skip.
ingest_start_strata() { # $1 = group | interval
    ING_DIR=$(mktemp -d "$SCRATCH/strata.XXXXXX") || return 1
    "$BUILD/stratad" --data "$ING_DIR/data" --http 127.0.0.1:0 --mqtt off --wal-fsync "$1" \
        --ready-file "$ING_DIR/ready" > "$ING_DIR/log" 2>&1 &
    ING_PID=$!
    n=0
    while [ ! -s "$ING_DIR/ready" ] && [ "$n" -lt 200 ]; do
        kill -0 "$ING_PID" 2>/dev/null || break
        sleep 0.1; n=$((n + 1))
    done
    ING_PORT=$(tr ' ' '\n' < "$ING_DIR/ready" 2>/dev/null | sed -n 's/^http=.*:\([0-9]*\)$/\1/p')
    if [ -z "$ING_PORT" ]; then tail -n 5 "$ING_DIR/log" | sed 's/^/   /'; return 1; fi
}
ingest_start_strata_group() { ingest_start_strata group; }
ingest_start_strata_interval() { ingest_start_strata interval; }

ingest_start_influxdb() {
    ingest_need_pkg influxd influxdb || { ING_SKIP="influxd not installed (package influxdb)"; return 1; }
    ING_DIR=$(mktemp -d "$SCRATCH/influxdb.XXXXXX") || return 1
    ING_PORT=$(ingest_free_port) && rpc=$(ingest_free_port) || return 1
    cat > "$ING_DIR/influxdb.conf" <<CONF
reporting-enabled = false
bind-address = "127.0.0.1:$rpc"
[meta]
  dir = "$ING_DIR/meta"
[data]
  dir = "$ING_DIR/data"
  wal-dir = "$ING_DIR/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:$ING_PORT"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[logging]
  level = "warn"
CONF
    influxd -config "$ING_DIR/influxdb.conf" > "$ING_DIR/log" 2>&1 &
    ING_PID=$!
    if ! ingest_wait_http "http://127.0.0.1:$ING_PORT/ping" 30; then
        tail -n 5 "$ING_DIR/log" | sed 's/^/   /'; ING_SKIP="influxd did not start"; return 1
    fi
    curl -sf -o /dev/null -XPOST "http://127.0.0.1:$ING_PORT/query" --data-urlencode "q=CREATE DATABASE bench" ||
        { ING_SKIP="influxd: CREATE DATABASE failed"; return 1; }
}

ingest_start_vm() {
    ingest_need_pkg victoria-metrics victoria-metrics ||
        { ING_SKIP="victoria-metrics not installed (package victoria-metrics)"; return 1; }
    ING_DIR=$(mktemp -d "$SCRATCH/vm.XXXXXX") || return 1
    ING_PORT=$(ingest_free_port) || return 1
    victoria-metrics -httpListenAddr="127.0.0.1:$ING_PORT" -storageDataPath="$ING_DIR/data" \
        -retentionPeriod=100y > "$ING_DIR/log" 2>&1 &
    ING_PID=$!
    if ! ingest_wait_http "http://127.0.0.1:$ING_PORT/health" 30; then
        tail -n 5 "$ING_DIR/log" | sed 's/^/   /'; ING_SKIP="victoria-metrics did not start"; return 1
    fi
}

# Count functions print the number of visible values (empty if unknown).
ingest_count_strata() {
    # (helpers use prefixed names: sh has no local variables)
    cs_resp=$(curl -s -G "http://127.0.0.1:$ING_PORT/query" --data-urlencode db=bench \
        --data-urlencode "q=SELECT count(usage_user) FROM cpu" 2>/dev/null)
    cs_n=$(printf '%s' "$cs_resp" | ingest_json_row_sum)
    if [ -n "$cs_n" ] && [ "$cs_n" -gt 0 ] 2>/dev/null; then
        # one field counted; every line of the gen file has ING_FIELDS fields, written together
        echo $((cs_n * ING_FIELDS)); return
    fi
    ING_NOTE="count query not answered ($(printf '%s' "$cs_resp" | head -c 80)); completeness read from /metrics strata_points_written_total (values acknowledged)"
    curl -s "http://127.0.0.1:$ING_PORT/metrics" 2>/dev/null |
        awk '$1 == "strata_points_written_total" { printf "%.0f", $2 }'
}
ingest_count_strata_group() { ingest_count_strata; }
ingest_count_strata_interval() { ingest_count_strata; }

ingest_count_influxdb() {
    curl -s -G "http://127.0.0.1:$ING_PORT/query" --data-urlencode db=bench \
        --data-urlencode "q=SELECT count(*) FROM cpu" 2>/dev/null | ingest_json_row_sum
}

ingest_count_vm() {
    curl -s -o /dev/null "http://127.0.0.1:$ING_PORT/internal/force_flush" 2>/dev/null
    vm_t=$((ING_START_S + POINTS * ING_STEP_S + 3600))
    curl -s -G "http://127.0.0.1:$ING_PORT/api/v1/query" --data-urlencode nocache=1 --data-urlencode "time=$vm_t" \
        --data-urlencode 'query=sum(count_over_time({__name__=~"cpu_.*"}[10y]))' 2>/dev/null |
        sed -n 's/.*"value":\[[^,]*,"\([^"]*\)"\].*/\1/p' | awk '{ printf "%.0f", $1 }'
}

# ingest_one TARGET — one fresh run; prints its line and sets ING_VPS, ING_RSS.
ingest_one() {
    it=$1; ING_VPS=""; ING_RSS=""; ING_SKIP=""; ING_NOTE=""
    if ! "ingest_start_$it"; then
        [ -z "$ING_SKIP" ] && ING_SKIP="$it did not start"
        ingest_stop; return 2
    fi
    out=$SCRATCH/ingest_$it.out
    "$BUILD/bench/loadgen" --file "$GEN_FILE" --port "$ING_PORT" --path /write --query db=bench \
        --batch-lines "$ING_BATCH" --connections "$ING_CONNS" --label "$it" > "$out" 2>&1
    lg_rc=$?
    t1=$(now_ns)
    sed 's/^/   /' "$out"
    if [ "$lg_rc" -ne 0 ]; then ING_SKIP="$it: loadgen reported errors"; ingest_stop; return 1; fi
    ack_s=$(sed -n 's/^loadgen: .* seconds=\([0-9.]*\) .*/\1/p' "$out")
    want=$(sed -n 's/^loadgen: .* values=\([0-9]*\) .*/\1/p' "$out")
    lines=$(sed -n 's/^loadgen: .* lines=\([0-9]*\).*/\1/p' "$out")
    ING_FIELDS=$((want / lines))
    deadline=$((t1 + ING_POLL_S * 1000000000))
    polls=0
    while :; do
        tq=$(now_ns)
        got=$("ingest_count_$it")
        polls=$((polls + 1))
        [ -n "$got" ] && [ "$got" -ge "$want" ] 2>/dev/null && break
        if [ "$tq" -gt "$deadline" ]; then
            ING_SKIP="$it: only ${got:-?} of $want values visible after ${ING_POLL_S}s"; ingest_stop; return 1
        fi
        sleep 0.2
    done
    # ingest_count_strata sets ING_NOTE in a subshell; ask once more here for the note
    case $it in strata*) "ingest_count_$it" > /dev/null ;; esac
    vis_ns=$((tq - t1))
    ING_RSS=$(ingest_hwm_mib "$ING_PID")
    ING_VPS=$(awk -v v="$want" -v a="$ack_s" -v q="$vis_ns" 'BEGIN { printf "%.0f", v / (a + q / 1e9) }')
    printf '   %s: %s values in %s s to the last ack + %s s until counted (%d polls): %s values/s, peak RSS %s MiB\n' \
        "$it" "$want" "$ack_s" "$(secs "$vis_ns")" "$polls" "$ING_VPS" "${ING_RSS:-?}"
    [ -n "$ING_NOTE" ] && printf '   note: %s\n' "$ING_NOTE"
    ingest_stop
    return 0
}

bench_enc() {
    section enc "column encodings: decode/encode speed and bits/value ($BUILD/bench/bench_enc)"
    if [ ! -x "$BUILD/bench/bench_enc" ]; then skip "$BUILD/bench/bench_enc not built"; return; fi
    run_bin bench_enc bench_enc "$BUILD/bench/bench_enc"
}

bench_wal() {
    section wal "WAL append throughput per fsync mode ($BUILD/bench/bench_wal)"
    if [ ! -x "$BUILD/bench/bench_wal" ]; then skip "$BUILD/bench/bench_wal not built"; return; fi
    run_bin bench_wal bench_wal "$BUILD/bench/bench_wal" "${BENCH_WAL_SECONDS:-2}" "$SCRATCH"
}

bench_sindex() {
    section sindex "series index: create/resolve throughput, bytes per series ($BUILD/bench/bench_sindex)"
    if [ ! -x "$BUILD/bench/bench_sindex" ]; then skip "$BUILD/bench/bench_sindex not built"; return; fi
    run_bin bench_sindex bench_sindex "$BUILD/bench/bench_sindex" 100000 2
}

bench_ingest() {
    section ingest "HTTP line-protocol ingest, $ING_CONNS connections x $ING_BATCH-line batches, timed until counted"
    if [ ! -x "$BUILD/stratad" ] || [ ! -x "$BUILD/bench/loadgen" ]; then
        skip "$BUILD/stratad or $BUILD/bench/loadgen not built"; return
    fi
    command -v curl > /dev/null 2>&1 || { skip "curl not installed"; return; }
    if ! need_gen_file; then skip "no gen file ($STRATA_BIN missing or failed)"; return; fi
    trap 'ingest_stop; rm -rf "$SCRATCH"' EXIT
    trap 'ingest_stop; rm -rf "$SCRATCH"; exit 130' INT TERM
    for t in $ING_TARGETS; do
        vals=""; rss=0; r=0; why=""
        while [ "$r" -lt "$ING_RUNS" ]; do
            r=$((r + 1))
            ingest_one "$t"; rc=$?
            if [ "$rc" -ne 0 ]; then why=$ING_SKIP; [ "$rc" -eq 2 ] && r=$ING_RUNS; continue; fi
            vals="$vals $ING_VPS"
            [ "${ING_RSS:-0}" -gt "$rss" ] && rss=$ING_RSS
        done
        if [ -z "$vals" ]; then
            case $t in strata*) fail "$why" ;; *) skip "$why" ;; esac
            eval "ING_R_$t=''"
            continue
        fi
        med=$(echo "$vals" | tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
        n=$(echo "$vals" | wc -w | tr -d ' ')
        fig "${t}_values_s" "$(awk -v v="$med" 'BEGIN { printf "%.2f", v / 1e6 }')" "M values/s (median of $n)"
        fig "${t}_peak_rss" "$rss" "MiB (VmHWM)"
        eval "ING_R_$t=$med; ING_M_$t=$rss"
    done
    trap 'rm -rf "$SCRATCH"' EXIT
    trap 'rm -rf "$SCRATCH"; exit 130' INT TERM
    # ratios the write-path issue asks for: group >= 2x VM, >= 4x InfluxDB values/s; RSS <= 0.5x VM
    sg=${ING_R_strata_group:-}; vm=${ING_R_vm:-}; ix=${ING_R_influxdb:-}
    if [ -n "$sg" ] && [ -n "$vm" ]; then
        fig "ratio_group_vs_vm" "$(awk -v a="$sg" -v b="$vm" 'BEGIN { printf "%.2f", a / b }')" "x values/s (target >= 2)"
        fig "ratio_rss_vs_vm" "$(awk -v a="${ING_M_strata_group:-0}" -v b="${ING_M_vm:-1}" 'BEGIN { printf "%.2f", a / b }')" "x peak RSS (target <= 0.5)"
    fi
    if [ -n "$sg" ] && [ -n "$ix" ]; then
        fig "ratio_group_vs_influxdb" "$(awk -v a="$sg" -v b="$ix" 'BEGIN { printf "%.2f", a / b }')" "x values/s (target >= 4)"
    fi
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
