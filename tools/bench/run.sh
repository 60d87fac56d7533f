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
#   mqtt  $BUILD/bench/mqttload publishes single-value line-protocol messages
#         (pre-built) over BENCH_MQTT_CONNS=8 connections, BENCH_MQTT_MESSAGES=
#         2000000 per run, QoS 0 and QoS 1 (BENCH_MQTT_WINDOW=2000 unacked per
#         connection) to stratad (--wal-fsync group: a PUBACK means the point is
#         in the WAL), then the same load to a mosquitto broker with a
#         mosquitto_sub draining it (reference): msg/s and values/s
#   query $BUILD/bench/qbench times dashboard queries (a-e) against Strata,
#         InfluxDB 1.6 and VictoriaMetrics 1.79 loaded with the same cpu data,
#         medians above the /ping floor, ratios; f, g: Strata values/s
#   import strata import over HTTP and --offline (~1 GiB line protocol, ~200 MiB
#         wide CSV) and InfluxDB 1.6's `influx -import`: values/s, client peak
#         RSS, ratios (see the section's comment)
#   disk  bytes per value on disk after force_flush + force_merge: cpu full
#         precision and --decimals 2, plant (with and without its noise
#         column), a sparse report-by-exception set (tools/bench/sparse.py),
#         NAB (NAB_DIR, tools/bench/nab2lp.py); Strata beside InfluxDB 1.6 and
#         VictoriaMetrics 1.79, ratios against the storage issue's targets,
#         bit-exact read-back on Strata, stratad's peak RSS per set under
#         --max-head-bytes (see the section's comment)
#   scan  full-column aggregations over cpu --decimals 2 on Strata after flush
#         + merge (qbench): values/s
#
# Environment:
#   BENCH_ONLY=gen,lp     run only these sections
#   BENCH_HOSTS=100       gen size: hosts ...
#   BENCH_POINTS=10000    ... and points per host (100 x 10000 = 1M lines, ~490 MB)
#   BENCH_SEED=1
#   BENCH_TMPDIR=DIR      where the scratch folder goes (default $TMPDIR or /tmp)
#   NAB_DIR=DIR           disk: the NAB data folder (CSV timestamp,value files);
#                         without it the nab set is skipped
#   BENCH_INGEST_RUNS=1   ingest: runs per target (median); BENCH_INGEST_TARGETS,
#                         _CONNS, _BATCH, _POLL_S: see the ingest section
#   BENCH_QUERY_HOSTS=100 BENCH_QUERY_POINTS=8640 BENCH_QUERY_RUNS=20
#   BENCH_QUERY_TARGETS="strata influxdb vm" BENCH_QUERY_PERF=0 BENCH_QUERY_CONNS=2:
#                         see the query section
#   BENCH_DISK_SETS="cpu dec2 plant sparse nab" BENCH_DISK_TARGETS="strata influxdb vm"
#   BENCH_DISK_HOSTS, _POINTS (BENCH_HOSTS, BENCH_POINTS) _UNITS=20 _PLANT_POINTS=86400
#   BENCH_DISK_TAGS=2000 _DAYS=7 _HEAD=64MiB _VERIFY=8 _SETTLE_S=300: see the disk section
#   BENCH_SCAN_HOSTS, _POINTS (BENCH_HOSTS, BENCH_POINTS) BENCH_SCAN_RUNS=20
#   BENCH_SCAN_NOSTATS_ARGS="--no-query-block-stats": see the scan section
#   BENCH_IMPORT_LP_MB=1024 BENCH_IMPORT_CSV_MB=200 BENCH_IMPORT_HOSTS=100
#   BENCH_IMPORT_WORKERS=2 BENCH_IMPORT_RUNS=3 BENCH_IMPORT_TARGETS BENCH_IMPORT_PERF=0:
#                         see the import section
#
# Adding a section: write bench_<name>() using fig/section/skip below, and
# list it in SECTIONS.

# Functions are called indirectly ("bench_$s"), which shellcheck cannot follow.
# shellcheck disable=SC2317
set -u

BUILD=${1:-build}
[ $# -gt 0 ] && shift
SECTIONS="gen lp num enc wal sindex seg ingest mqtt query disk scan import"
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

bench_seg() {
    section seg "segment files: bytes/value, write MB/s, scan values/s ($BUILD/bench/bench_seg)"
    if [ ! -x "$BUILD/bench/bench_seg" ]; then skip "$BUILD/bench/bench_seg not built"; return; fi
    run_bin bench_seg bench_seg "$BUILD/bench/bench_seg" "$HOSTS" "$POINTS" "$SCRATCH"
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

# ---- query: dashboard query latency, Strata and its peers ----
#
# For each target (BENCH_QUERY_TARGETS, default "strata influxdb vm"): start
# it with the ingest section's functions (Strata with --wal-fsync never), post
# `strata gen cpu --hosts BENCH_QUERY_HOSTS (100) --points BENCH_QUERY_POINTS
# (8640: 24 h at 10 s)` with loadgen, poll the ingest count until every value
# is visible (VictoriaMetrics: force_flush), then time each query with
# $BUILD/bench/qbench on one keep-alive connection: BENCH_QUERY_RUNS (20)
# timed runs after one warm-up, medians; /ping the same way (the floor, which
# is subtracted: "ms above floor"), timed first, before any query. Pings
# interleaved with the queries were tried as the floor and dropped: on this
# kind of machine they come out 0.015 or 0.05 ms depending on where the
# server's threads were last placed, which the queries themselves change,
# so subtracting them hid part of the queries' own cost. The span S is the
# data's length in whole
# hours; t0 = 2016-01-01T00:00:00Z (gen's start).
#   a  SELECT mean(usage_user) WHERE hostname='host_0' AND [t0, t0+S) GROUP BY time(5m)
#   b  SELECT max(usage_user)  WHERE [t0, t0+S) GROUP BY time(1h), hostname
#   c  SELECT last(usage_user) GROUP BY hostname
#   d  SELECT usage_user WHERE hostname='host_0' AND [t0+S/2, t0+S/2+1h)
#   e  SELECT mean(usage_user) WHERE [t0+S/2, t0+S) GROUP BY time(1h), hostname
#   f  SELECT max(usage_user), mean(usage_user) WHERE [t0, t0+S)   (Strata only)
#   g  the same GROUP BY time(1h), hostname                         (Strata only)
# VictoriaMetrics answers MetricsQL with nocache=1: a, b, e on
# /api/v1/query_range (avg_over_time / max_over_time over the window, step =
# the window), c and d on /api/v1/query (last_over_time(...[1d]) at t0+S; the
# range selector [1h]). A VictoriaMetrics window is (t-w, t] at each step t,
# InfluxDB's is [t, t+w): evaluating at window end - 1 ms puts the same 10 s
# points in each window, so both return the same series and point counts
# (checked, and printed as series x points); VM's timestamps are the window
# ends - 1 ms, c's timestamp is the evaluation time, and VM keeps ~12
# significant digits. Figures: per query and target the median above the
# floor, and the ratios influxdb/strata and vm/strata (how many times faster
# Strata is; the issue's targets are in the units); f and g as values/s
# (usage_user values in range / (median - floor)).
# BENCH_QUERY_PERF=1: also `perf record -g` stratad while it answers b and e,
# and print the hottest symbols (perf report --no-children); or a list of
# labels to profile instead (BENCH_QUERY_PERF="a d").
# BENCH_QUERY_CONNS (default BENCH_INGEST_CONNS, 2): load connections. With
# more than one, batches land out of time order, as from parallel writers,
# and part of Strata's head is its out-of-order buffer (head_read then sorts).
# BENCH_QUERY_SETTLE_S (default 1): seconds every target is left alone after
# its load is visible and before the queries, as a dashboard comes to data
# written a moment ago: background work the load started (Strata's head
# merging the last late batches into their chunks, 200-400 ms after they
# land; InfluxDB's cache snapshot; VictoriaMetrics' merges) is not timed
# with the first queries for one target and not for another. 0: none.

Q_HOSTS=${BENCH_QUERY_HOSTS:-100}
Q_POINTS=${BENCH_QUERY_POINTS:-8640}
Q_RUNS=${BENCH_QUERY_RUNS:-20}
Q_TARGETS=${BENCH_QUERY_TARGETS:-strata influxdb vm}
Q_PERF=${BENCH_QUERY_PERF:-0}
Q_CONNS=${BENCH_QUERY_CONNS:-$ING_CONNS}
Q_SETTLE_S=${BENCH_QUERY_SETTLE_S:-1}

query_start_strata() { ingest_start_strata never; }
query_count_strata() { ingest_count_strata; }
query_start_influxdb() { ingest_start_influxdb; }
query_count_influxdb() { ingest_count_influxdb; }
query_start_vm() { ingest_start_vm; }
query_count_vm() { ingest_count_vm; }

# query_load TARGET FILE — start TARGET and load FILE until it is all visible.
query_load() {
    ING_SKIP=""
    if ! "query_start_$1"; then [ -z "$ING_SKIP" ] && ING_SKIP="$1 did not start"; return 1; fi
    ql_out=$SCRATCH/query_load_$1.out
    t1=$(now_ns)
    "$BUILD/bench/loadgen" --file "$2" --port "$ING_PORT" --path /write --query db=bench \
        --batch-lines "$ING_BATCH" --connections "$Q_CONNS" --label "$1" > "$ql_out" 2>&1 ||
        { sed 's/^/   /' "$ql_out"; ING_SKIP="$1: loadgen reported errors"; return 1; }
    ql_want=$(sed -n 's/^loadgen: .* values=\([0-9]*\) .*/\1/p' "$ql_out")
    ql_lines=$(sed -n 's/^loadgen: .* lines=\([0-9]*\).*/\1/p' "$ql_out")
    ING_FIELDS=$((ql_want / ql_lines))
    deadline=$((t1 + ING_POLL_S * 1000000000))
    while :; do
        got=$("query_count_$1")
        [ -n "$got" ] && [ "$got" -ge "$ql_want" ] 2>/dev/null && break
        if [ "$(now_ns)" -gt "$deadline" ]; then
            ING_SKIP="$1: only ${got:-?} of $ql_want values visible after ${ING_POLL_S}s"; return 1
        fi
        sleep 0.2
    done
    printf '   %s: loaded %s values in %s s\n' "$1" "$ql_want" "$(secs $(($(now_ns) - t1)))"
    sleep "$Q_SETTLE_S" # the same for every target: see the section comment
}

# query_iql LABEL INFLUXQL — one qbench query argument group for /query.
# Collected in $SCRATCH/qargs (one argument per line: sh has no arrays).
query_add() { for qa in "$@"; do printf '%s\n' "$qa" >> "$SCRATCH/qargs"; done; }
query_iql() { query_add --query "$1" /query --param db=bench --param "q=$2" --expect '"series"'; }
query_vm() { # LABEL PATH MetricsQL [KEY=VALUE...]
    ql=$1; qp=$2; qq=$3; shift 3
    query_add --query "$ql" "$qp" --param "query=$qq" --param nocache=1
    for qa in "$@"; do query_add --param "$qa"; done
    query_add --expect '"status":"success"'
}

# query_run TARGET — write TARGET's queries and run qbench; its output is in
# $SCRATCH/qbench_TARGET.out and the bodies in $SCRATCH/qbody_TARGET/.
query_run() {
    : > "$SCRATCH/qargs"
    s=$((ING_START_S)); span=$((Q_SPAN_H * 3600)); half=$((span / 2))
    t0=$((s * 1000000000)); h=3600000000000
    te=$((t0 + span * 1000000000)); tm=$((t0 + half * 1000000000))
    case $1 in
    vm)
        # evaluation times: window end - 1 ms (see the section comment)
        query_vm a /api/v1/query_range 'avg_over_time(cpu_usage_user{hostname="host_0"}[5m])' \
            "start=$((s + 299)).999" "end=$((s + span - 1)).999" step=5m
        query_vm b /api/v1/query_range 'max_over_time(cpu_usage_user[1h])' \
            "start=$((s + 3599)).999" "end=$((s + span - 1)).999" step=1h
        query_vm c /api/v1/query 'last_over_time(cpu_usage_user[1d])' "time=$((s + span))"
        query_vm d /api/v1/query 'cpu_usage_user{hostname="host_0"}[1h]' "time=$((s + half + 3599)).999"
        query_vm e /api/v1/query_range 'avg_over_time(cpu_usage_user[1h])' \
            "start=$((s + half + 3599)).999" "end=$((s + span - 1)).999" step=1h
        ;;
    *)
        query_iql a "SELECT mean(usage_user) FROM cpu WHERE hostname='host_0' AND time >= $t0 AND time < $te GROUP BY time(5m)"
        query_iql b "SELECT max(usage_user) FROM cpu WHERE time >= $t0 AND time < $te GROUP BY time(1h), hostname"
        query_iql c "SELECT last(usage_user) FROM cpu GROUP BY hostname"
        query_iql d "SELECT usage_user FROM cpu WHERE hostname='host_0' AND time >= $tm AND time < $((tm + h))"
        query_iql e "SELECT mean(usage_user) FROM cpu WHERE time >= $tm AND time < $te GROUP BY time(1h), hostname"
        if [ "$1" = strata ]; then
            query_iql f "SELECT max(usage_user), mean(usage_user) FROM cpu WHERE time >= $t0 AND time < $te"
            query_iql g "SELECT max(usage_user), mean(usage_user) FROM cpu WHERE time >= $t0 AND time < $te GROUP BY time(1h), hostname"
        fi
        ;;
    esac
    qping=/ping
    mkdir -p "$SCRATCH/qbody_$1"
    # one argument per line, none containing a newline; no globbing ([1h])
    old_ifs=$IFS; IFS='
'
    set -f
    # shellcheck disable=SC2046
    set -- "$1" $(cat "$SCRATCH/qargs")
    set +f
    IFS=$old_ifs
    qt=$1; shift
    "$BUILD/bench/qbench" --port "$ING_PORT" --runs "$Q_RUNS" --ping "$qping" \
        --save "$SCRATCH/qbody_$qt" --timeout-s 240 "$@" > "$SCRATCH/qbench_$qt.out" 2> "$SCRATCH/qbench_$qt.err"
    qrc=$?
    sed 's/^/   /' "$SCRATCH/qbench_$qt.out"
    head -n 3 "$SCRATCH/qbench_$qt.err" | sed 's/^/   /'
    return "$qrc"
}

# query_perf LABEL... — perf record stratad ($ING_PID) while qbench repeats
# each LABEL's query from $SCRATCH/qargs; prints the hottest symbols.
query_perf() {
    command -v perf > /dev/null 2>&1 || { printf '   perf: not installed\n'; return; }
    for pl in "$@"; do
        # the label's argument group: from "--query LABEL" to the next --query
        awk -v l="$pl" '$0 == "--query" { q = 1; next } q == 1 { on = ($0 == l); q = 0; if (on) print "--query" } on' \
            "$SCRATCH/qargs" > "$SCRATCH/qargs_$pl"
        old_ifs=$IFS; IFS='
'
        set -f
        # shellcheck disable=SC2046
        set -- $(cat "$SCRATCH/qargs_$pl")
        set +f
        IFS=$old_ifs
        perf record -g -o "$SCRATCH/perf_$pl.data" -p "$ING_PID" > "$SCRATCH/perf_$pl.log" 2>&1 &
        pp=$!
        sleep 0.5
        "$BUILD/bench/qbench" --port "$ING_PORT" --runs "$Q_RUNS" --timeout-s 120 "$@" | sed 's/^/   perf run: /'
        kill -INT "$pp" 2>/dev/null; wait "$pp" 2>/dev/null
        if [ ! -s "$SCRATCH/perf_$pl.data" ]; then
            printf '   perf (%s): no profile: %s\n' "$pl" "$(tail -n 1 "$SCRATCH/perf_$pl.log")"; continue
        fi
        printf '   perf (%s): hottest symbols in stratad, self time\n' "$pl"
        perf report -i "$SCRATCH/perf_$pl.data" --stdio --no-children --sort symbol -g none \
            --percent-limit 1.5 2>/dev/null | grep -v '^#' | sed '/^$/d' | head -n 20 | sed 's/^/     /'
        rm -f "$SCRATCH/perf_$pl.data"
    done
}

# query_val TARGET LABEL KEY — one key=value of qbench's line for LABEL.
query_val() {
    awk -v l="$2" -v k="$3=" '$1 == "qbench:" && $2 == l {
        for (i = 3; i <= NF; i++) if (index($i, k) == 1) { print substr($i, length(k) + 1); exit } }' \
        "$SCRATCH/qbench_$1.out" 2>/dev/null
}
# query_first TARGET LABEL — the first point's value in LABEL's saved body
# (InfluxDB JSON or Prometheus matrix; meant for one-series answers).
query_first() {
    sed -n 's/.*"values":\[\[[^,]*,"\{0,1\}\([^]",]*\).*/\1/p' "$SCRATCH/qbody_$1/$2.json" 2>/dev/null | head -n 1
}
# query_above TARGET LABEL — median minus the ping floor, in ms (>= 0.001).
query_above() {
    qa_m=$(query_val "$1" "$2" median_ms); qa_f=$(query_val "$1" ping median_ms)
    [ -n "$qa_m" ] && [ "$qa_m" != nan ] && [ -n "$qa_f" ] && [ "$qa_f" != nan ] || return 0
    awk -v m="$qa_m" -v f="$qa_f" 'BEGIN { d = m - f; if (d < 0.001) d = 0.001; printf "%.3f", d }'
}

bench_query() {
    section query "dashboard queries over cpu data ($Q_HOSTS hosts x $Q_POINTS points at 10 s), $Q_RUNS runs each, medians"
    if [ ! -x "$BUILD/stratad" ] || [ ! -x "$BUILD/bench/loadgen" ] || [ ! -x "$BUILD/bench/qbench" ]; then
        skip "$BUILD/stratad, $BUILD/bench/loadgen or $BUILD/bench/qbench not built"; return
    fi
    command -v curl > /dev/null 2>&1 || { skip "curl not installed"; return; }
    Q_SPAN_H=$((Q_POINTS * ING_STEP_S / 3600))
    if [ "$Q_SPAN_H" -lt 2 ]; then skip "BENCH_QUERY_POINTS=$Q_POINTS is under 2 h of data"; return; fi
    qfile=$SCRATCH/query_cpu.lp
    tq0=$(now_ns)
    if ! "$STRATA_BIN" gen cpu --hosts "$Q_HOSTS" --points "$Q_POINTS" --seed "$SEED" --output "$qfile"; then
        fail "strata gen cpu for the query data"; return
    fi
    trap 'ingest_stop; rm -rf "$SCRATCH"' EXIT
    trap 'ingest_stop; rm -rf "$SCRATCH"; exit 130' INT TERM
    done_targets=""
    for t in $Q_TARGETS; do
        if ! query_load "$t" "$qfile"; then
            case $t in strata*) fail "$ING_SKIP" ;; *) printf '   %s skipped: %s\n' "$t" "$ING_SKIP" ;; esac
            ingest_stop; continue
        fi
        query_run "$t" || printf '   %s: qbench reported errors (figures from successful runs only)\n' "$t"
        if [ "$t" = strata ]; then
            case $Q_PERF in 0) ;; 1) query_perf b e ;; *) query_perf $Q_PERF ;; esac
        fi
        ingest_stop
        done_targets="$done_targets $t"
    done
    rm -f "$qfile"
    trap 'rm -rf "$SCRATCH"' EXIT
    trap 'rm -rf "$SCRATCH"; exit 130' INT TERM

    # shapes: series x points (null points) per query and target
    printf '   shapes (series x points, nulls):\n'
    mism=""
    for l in a b c d e; do
        line="     $l:"; ref=""
        for t in $done_targets; do
            sh_=$(query_val "$t" "$l" series)x$(query_val "$t" "$l" points)
            line="$line $t $sh_ ($(query_val "$t" "$l" nulls))"
            [ -z "$ref" ] && ref=$sh_
            [ "$sh_" != "$ref" ] && mism="$mism $l"
        done
        printf '%s\n' "$line"
    done
    # values: the first point of the one-series answers, equal to 1e-9 (VM keeps ~12 digits)
    for l in a d; do
        line="     $l first value:"; ref=""
        for t in $done_targets; do
            v=$(query_first "$t" "$l")
            line="$line $t ${v:-?}"
            [ -z "$ref" ] && ref=$v
            if [ -z "$v" ] || ! awk -v a="$v" -v b="$ref" 'BEGIN { d = a - b; if (d < 0) d = -d; m = b < 0 ? -b : b;
                    exit !(d <= 1e-9 * m) }'; then mism="$mism $l(value)"; fi
        done
        printf '%s\n' "$line"
    done
    for t in $done_targets; do
        fig "q_floor_$t" "$(query_val "$t" ping median_ms)" "ms (/ping median, subtracted below)"
    done
    for l in a b c d e; do
        st=$(query_above strata "$l"); ix=$(query_above influxdb "$l"); vm=$(query_above vm "$l")
        for t in strata influxdb vm; do
            case $t in strata) v=$st ;; influxdb) v=$ix ;; *) v=$vm ;; esac
            [ -n "$v" ] && fig "q_${l}_${t}_ms" "$v" "ms above floor (median $(query_val "$t" "$l" median_ms), p90 $(query_val "$t" "$l" p90_ms))"
        done
        case $l in b | e) vt=3 ;; *) vt=2 ;; esac
        [ -n "$st" ] && [ -n "$ix" ] &&
            fig "q_${l}_influxdb_vs_strata" "$(awk -v a="$ix" -v b="$st" 'BEGIN { printf "%.2f", a / b }')" "x (target >= 10)"
        [ -n "$st" ] && [ -n "$vm" ] &&
            fig "q_${l}_vm_vs_strata" "$(awk -v a="$vm" -v b="$st" 'BEGIN { printf "%.2f", a / b }')" "x (target >= $vt)"
    done
    qvals=$((Q_HOSTS * Q_POINTS))
    for l in f g; do
        d=$(query_above strata "$l")
        [ -n "$d" ] && fig "q_${l}_strata_values_s" "$(awk -v n="$qvals" -v d="$d" 'BEGIN { printf "%.1f", n / (d / 1e3) / 1e6 }')" \
            "M values/s ($qvals values, $d ms above floor)"
    done
    if [ -n "$mism" ]; then fig "q_shapes" "differ" "in:$mism (see shapes above)"; else fig "q_shapes" "match" "series x points (and a, d first values) equal across targets"; fi
    printf '   section time: %s s\n' "$(secs $(($(now_ns) - tq0)))"
}

# ---- disk: bytes per value on disk, Strata and its peers; bit-exact reads ----
#
# Data sets (BENCH_DISK_SETS, default "cpu dec2 plant sparse nab"; nab only
# when NAB_DIR is given):
#   cpu     strata gen cpu --hosts BENCH_DISK_HOSTS --points BENCH_DISK_POINTS
#           (default BENCH_HOSTS x BENCH_POINTS: 100 x 10,000 = 10 M values)
#   dec2    the same with --decimals 2
#   plant   strata gen plant --units BENCH_DISK_UNITS (20) --points
#           BENCH_DISK_PLANT_POINTS (86400: one day at 1 s)
#   sparse  tools/bench/sparse.py --tags BENCH_DISK_TAGS (2000) --days
#           BENCH_DISK_DAYS (7): report-by-exception, 1-10 changes per tag and hour
#   nab     tools/bench/nab2lp.py $NAB_DIR (the NAB real-data CSV folders)
# Values = fields in the line protocol (loadgen's count, quality included),
# the same denominator for every target.
#   Strata: a fresh stratad per set (--wal-fsync never, --max-head-bytes
#     BENCH_DISK_HEAD, default 64MiB), loadgen, wait until
#     strata_points_written_total stops moving, read VmHWM (peak RSS while
#     ingesting with that head budget), POST /internal/force_flush then
#     /internal/force_merge, then count allocated bytes (du -B1) under
#     data/db; beside it the apparent size and data/db + catalog.db + wal.
#     Then the bit-exact check: BENCH_DISK_VERIFY (8) series spread over the
#     set are read back with SELECT * ... WHERE <every tag> (epoch=ns) and
#     every source value is compared by its IEEE-754 bits (integers, booleans
#     and strings by value), the row count too. The quality key is not a
#     field in Strata and is left out of the comparison.
#   VictoriaMetrics: a fresh server per set, /write, force_flush, then
#     force_merge (it runs in the background: wait until its
#     vm_active_force_merges gauge is 0 and du stops moving), du -B1 of the
#     whole -storageDataPath (data + indexdb). It keeps ~12 digits of a
#     double: its full-precision figure is lossy. The samples it counts
#     (count_over_time) are printed beside its figure.
#   InfluxDB 1.6: one server, one database per set, cold-compaction settings
#     (cache-snapshot-write-cold-duration 10s, compact-full-write-cold-duration
#     30s); after the last set, wait until the file list under data/ and wal/
#     has not changed for 15 s (at most BENCH_DISK_SETTLE_S, 300), then du
#     -B1 of data/<db> + wal/<db>.
# Figures: bytes/value per set and target; ratios strata/vm and
# strata/influxdb, each printed beside the issue's target: never above VM
# (<= 0.8x on plant and dec2), <= 0.9x InfluxDB on cpu, below both on nab and
# sparse; every value bit-exact. BENCH_DISK_TARGETS (default "strata influxdb
# vm") picks the targets.

DISK_SETS=${BENCH_DISK_SETS:-cpu dec2 plant sparse nab}
DISK_TARGETS=${BENCH_DISK_TARGETS:-strata influxdb vm}
DISK_HOSTS=${BENCH_DISK_HOSTS:-$HOSTS}
DISK_POINTS=${BENCH_DISK_POINTS:-$POINTS}
DISK_UNITS=${BENCH_DISK_UNITS:-20}
DISK_PLANT_POINTS=${BENCH_DISK_PLANT_POINTS:-86400}
DISK_TAGS=${BENCH_DISK_TAGS:-2000}
DISK_DAYS=${BENCH_DISK_DAYS:-7}
DISK_HEAD=${BENCH_DISK_HEAD:-64MiB}
DISK_VERIFY=${BENCH_DISK_VERIFY:-8}
DISK_SETTLE_S=${BENCH_DISK_SETTLE_S:-300}
BENCH_DIR=$(dirname "$0")

# disk_start_strata DATA_DIR EXTRA_ARGS... — stratad on a free port (ING_PID,
# ING_PORT); DATA_DIR is kept (the caller removes it). Non-zero if it did not start.
disk_start_strata() {
    ds_dir=$1; shift
    mkdir -p "$ds_dir" || return 1
    rm -f "$ds_dir/ready"
    "$BUILD/stratad" --data "$ds_dir/data" --http 127.0.0.1:0 --mqtt off --wal-fsync never \
        --ready-file "$ds_dir/ready" "$@" >> "$ds_dir/log" 2>&1 &
    ING_PID=$!
    n=0
    while [ ! -s "$ds_dir/ready" ] && [ "$n" -lt 200 ]; do
        kill -0 "$ING_PID" 2>/dev/null || break
        sleep 0.1; n=$((n + 1))
    done
    ING_PORT=$(tr ' ' '\n' < "$ds_dir/ready" 2>/dev/null | sed -n 's/^http=.*:\([0-9]*\)$/\1/p')
    if [ -z "$ING_PORT" ]; then tail -n 5 "$ds_dir/log" | sed 's/^/   /'; return 1; fi
}

# disk_metric NAME — one counter from Strata's /metrics.
disk_metric() {
    curl -s "http://127.0.0.1:$ING_PORT/metrics" 2>/dev/null | awk -v k="$1" '$1 == k { printf "%.0f", $2 }'
}

# disk_settle_strata — until strata_points_written_total is unchanged for 1 s (max 60 s).
disk_settle_strata() {
    dss_prev=x; n=0
    while [ "$n" -lt 60 ]; do
        dss_cur=$(disk_metric strata_points_written_total)
        [ -n "$dss_cur" ] && [ "$dss_cur" = "$dss_prev" ] && return 0
        dss_prev=$dss_cur; sleep 1; n=$((n + 1))
    done
    return 1
}

# disk_post PATH — POST to the running server, 0 on 2xx.
disk_post() {
    dp_code=$(curl -s -o "$SCRATCH/disk_post.out" -w '%{http_code}' -XPOST --max-time 600 \
        "http://127.0.0.1:$ING_PORT$1" 2>/dev/null)
    case $dp_code in 2*) return 0 ;; esac
    printf '   POST %s: %s %s\n' "$1" "$dp_code" "$(head -c 200 "$SCRATCH/disk_post.out")"
    return 1
}

alloc_bytes() { du -sB1 "$@" 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s }'; }
apparent_bytes() { du -sb "$@" 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s }'; }
# file_bytes DIR PATTERN — the sum of the sizes of the files named PATTERN under DIR.
file_bytes() {
    find "$1" -type f -name "$2" -exec ls -ln {} + 2>/dev/null | awk '{ s += $5 } END { printf "%.0f", s }'
}
bpv() { awk -v b="$1" -v n="$2" 'BEGIN { if (n <= 0) n = 1; printf "%.3f", b / n }'; }

# disk_load FILE DB LABEL — loadgen FILE into the running server; sets DISK_VALUES.
disk_load() {
    dl_out=$SCRATCH/disk_load_$3.out
    "$BUILD/bench/loadgen" --file "$1" --port "$ING_PORT" --path /write --query "db=$2" \
        --batch-lines "$ING_BATCH" --connections "$ING_CONNS" --label "$3" > "$dl_out" 2>&1 ||
        { sed 's/^/   /' "$dl_out"; return 1; }
    DISK_VALUES=$(sed -n 's/^loadgen: .* values=\([0-9]*\) .*/\1/p' "$dl_out")
    [ -n "$DISK_VALUES" ]
}

# The bit-exact check, run by python3: disk_verify.py FILE PORT DB SAMPLES.
disk_write_verifier() {
    cat > "$SCRATCH/disk_verify.py" <<'PY'
import json, struct, sys, urllib.parse, urllib.request
path, port, db, nsample = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
keys, seen = [], set()
with open(path, "rb") as f:                      # pass 1: the series, in first-seen order
    for line in f:
        k = line.split(b" ", 1)[0]
        if k not in seen:
            seen.add(k); keys.append(k)
pick = sorted({keys[i * len(keys) // nsample] for i in range(min(nsample, len(keys)))}, key=keys.index)
want = {k: {} for k in pick}                     # key -> {(ts, field): (kind, text)}
def kind(v):
    if v.endswith(b"i"): return "i", v[:-1]
    if v.endswith(b"u"): return "i", v[:-1]
    if v in (b"t", b"T", b"true", b"True", b"TRUE"): return "b", True
    if v in (b"f", b"F", b"false", b"False", b"FALSE"): return "b", False
    if v.startswith(b'"'): return "s", v[1:-1].decode()
    return "f", v
with open(path, "rb") as f:                      # pass 2: their values (last write wins)
    for line in f:
        k, rest = line.split(b" ", 1)
        if k in want:
            fields, ts = rest.rsplit(b" ", 1)
            for fv in fields.split(b","):
                fk, v = fv.split(b"=", 1)
                if fk == b"quality": continue
                want[k][(int(ts), fk.decode())] = kind(v)
bits = lambda x: struct.pack("<d", float(x))
checked = bad = 0; msgs = []
for k in pick:
    parts = k.decode().split(",")
    cond = " AND ".join('"%s"=\'%s\'' % tuple(p.split("=", 1)) for p in parts[1:])
    q = 'SELECT * FROM "%s"%s' % (parts[0], " WHERE " + cond if cond else "")
    url = "http://127.0.0.1:%s/query?%s" % (port, urllib.parse.urlencode({"db": db, "epoch": "ns", "q": q}))
    with urllib.request.urlopen(url, timeout=300) as r:
        body = json.load(r)
    got = {}
    fieldnames = {fk for (_, fk) in want[k]}
    for res in body.get("results", []):
        if "error" in res: msgs.append("%s: %s" % (k.decode(), res["error"]))
        for s in res.get("series", []):
            cols = s["columns"]
            for row in s["values"]:
                for c, v in zip(cols[1:], row[1:]):
                    if c in fieldnames and v is not None: got[(row[0], c)] = v
    for key, (kd, src) in want[k].items():
        checked += 1
        g = got.pop(key, None)
        ok = g is not None and (
            (kd == "f" and not isinstance(g, (bool, str)) and bits(src) == bits(g)) or
            (kd == "i" and isinstance(g, int) and not isinstance(g, bool) and g == int(src)) or
            (kd == "b" and g is src) or (kd == "s" and g == src))
        if not ok:
            bad += 1
            if len(msgs) < 5: msgs.append("%s %s@%d: source %r, read %r" % (k.decode(), key[1], key[0], src, g))
    if got:
        bad += len(got)
        if len(msgs) < 5: msgs.append("%s: %d values read that the source does not have" % (k.decode(), len(got)))
for m in msgs: print("   mismatch:", m)
print("verify: series=%d values=%d mismatches=%d" % (len(pick), checked, bad))
sys.exit(1 if bad or not checked else 0)
PY
}

# disk_make_set SET FILE — write the set's line protocol to FILE.
disk_make_set() {
    case $1 in
    cpu) "$STRATA_BIN" gen cpu --hosts "$DISK_HOSTS" --points "$DISK_POINTS" --seed "$SEED" --output "$2" ;;
    dec2) "$STRATA_BIN" gen cpu --hosts "$DISK_HOSTS" --points "$DISK_POINTS" --seed "$SEED" --decimals 2 --output "$2" ;;
    plant) "$STRATA_BIN" gen plant --units "$DISK_UNITS" --points "$DISK_PLANT_POINTS" --seed "$SEED" --output "$2" ;;
    sparse) python3 "$BENCH_DIR/sparse.py" --tags "$DISK_TAGS" --days "$DISK_DAYS" --seed "$SEED" --output "$2" ;;
    nab) python3 "$BENCH_DIR/nab2lp.py" "$NAB_DIR" --output "$2" ;;
    *) return 1 ;;
    esac
}

# disk_strata SET FILE — one Strata run; sets DS_B (bytes/value) or returns 1.
disk_strata() {
    DS_B=""
    dsd=$SCRATCH/disk_strata_$1
    if ! disk_start_strata "$dsd" --max-head-bytes "$DISK_HEAD"; then fail "$1: stratad did not start"; return 1; fi
    ING_DIR=$dsd
    if ! disk_load "$2" bench "strata_$1"; then fail "$1: loading into Strata"; ingest_stop; return 1; fi
    disk_settle_strata || printf '   strata: points count still moving after 60 s\n'
    rss=$(ingest_hwm_mib "$ING_PID")
    [ "${rss:-0}" -gt "$DISK_RSS_MAX" ] && { DISK_RSS_MAX=$rss; DISK_RSS_SET="$1, $DISK_VALUES values"; }
    fig "disk_${1}_strata_rss" "$rss" "MiB peak RSS while ingesting $DISK_VALUES values, --max-head-bytes $DISK_HEAD"
    t0=$(now_ns)
    if ! disk_post /internal/force_flush || ! disk_post /internal/force_merge; then
        fail "$1: force_flush/force_merge"; ingest_stop; return 1
    fi
    t1=$(now_ns)
    db=$(alloc_bytes "$dsd/data/db"); dba=$(apparent_bytes "$dsd/data/db")
    tot=$(alloc_bytes "$dsd/data/db" "$dsd/data/wal" "$dsd/data"/catalog.db*)
    nseg=$(find "$dsd/data/db" -name '*.seg' | wc -l | tr -d ' ')
    segb=$(file_bytes "$dsd/data/db" '*.seg')
    DS_B=$(bpv "$db" "$DISK_VALUES")
    fig "disk_${1}_strata" "$DS_B" "bytes/value allocated under data/db ($db B, apparent $(bpv "$dba" "$DISK_VALUES"), $nseg .seg files, flush+merge $(secs $((t1 - t0))) s)"
    fig "disk_${1}_strata_files" "$(bpv "$segb" "$DISK_VALUES")" "bytes/value in the .seg files' own sizes ($segb B: no directories, no block rounding)"
    printf '   strata: data/db + wal + catalog.db: %s bytes/value\n' "$(bpv "$tot" "$DISK_VALUES")"
    if python3 "$SCRATCH/disk_verify.py" "$2" "$ING_PORT" bench "$DISK_VERIFY" > "$SCRATCH/disk_verify.out" 2>&1; then
        sed 's/^/   /' "$SCRATCH/disk_verify.out" | grep -v '^   verify:' | head -n 5
        fig "disk_${1}_bitexact" "yes" "$(sed -n 's/^verify: //p' "$SCRATCH/disk_verify.out")"
    else
        sed 's/^/   /' "$SCRATCH/disk_verify.out" | tail -n 8
        fail "$1: Strata read-back not bit-exact: $(sed -n 's/^verify: //p' "$SCRATCH/disk_verify.out")"
    fi
    ingest_stop
}

# disk_vm SET FILE — one VictoriaMetrics run; sets DV_B.
disk_vm() {
    DV_B=""; ING_SKIP=""
    if ! ingest_start_vm; then printf '   vm skipped: %s\n' "${ING_SKIP:-did not start}"; ingest_stop; return 1; fi
    if ! disk_load "$2" bench "vm_$1"; then printf '   vm: load failed\n'; ingest_stop; return 1; fi
    disk_post /internal/force_flush
    # samples VM counts (a check that it kept everything, e.g. older than its retention)
    vmn=$(curl -s -G "http://127.0.0.1:$ING_PORT/api/v1/query" --data-urlencode nocache=1 \
        --data-urlencode "time=$(date +%s)" \
        --data-urlencode 'query=sum(count_over_time({__name__=~".+"}[30y]))' 2>/dev/null |
        sed -n 's/.*"value":\[[^,]*,"\([^"]*\)"\].*/\1/p' | awk '{ printf "%.0f", $1 }')
    disk_post /internal/force_merge
    sleep 1
    prev=x; n=0
    while [ "$n" -lt 120 ]; do
        act=$(curl -s "http://127.0.0.1:$ING_PORT/metrics" 2>/dev/null | awk '$1 == "vm_active_force_merges" { print $2 }')
        cur=$(alloc_bytes "$ING_DIR/data")
        [ "${act:-0}" = 0 ] && [ "$cur" = "$prev" ] && break
        prev=$cur; sleep 1; n=$((n + 1))
    done
    b=$(alloc_bytes "$ING_DIR/data")
    DV_B=$(bpv "$b" "$DISK_VALUES")
    fig "disk_${1}_vm" "$DV_B" "bytes/value allocated, whole storage dir ($b B; it kept ${vmn:-?} of $DISK_VALUES values)"
    ingest_stop
}

# InfluxDB: one server for every set (DI_* state), started on first use.
DI_PID=""; DI_DIR=""; DI_PORT=""
disk_influx_start() {
    ING_SKIP=""
    ingest_start_influxdb || return 1
    DI_PID=$ING_PID; DI_DIR=$ING_DIR; DI_PORT=$ING_PORT
    ING_PID=""; ING_DIR=""
    # cold-compaction settings go in [data]: restart with them
    kill "$DI_PID" 2>/dev/null; wait "$DI_PID" 2>/dev/null
    awk '{ print } $0 == "[data]" { print "  cache-snapshot-write-cold-duration = \"10s\""
        print "  compact-full-write-cold-duration = \"30s\"" }' "$DI_DIR/influxdb.conf" > "$DI_DIR/influxdb2.conf"
    influxd -config "$DI_DIR/influxdb2.conf" > "$DI_DIR/log" 2>&1 &
    DI_PID=$!; ING_PID=$DI_PID
    if ! ingest_wait_http "http://127.0.0.1:$DI_PORT/ping" 30; then ING_PID=""; disk_influx_stop; return 1; fi
    ING_PID=""
}
disk_influx_stop() {
    if [ -n "$DI_PID" ]; then
        kill "$DI_PID" 2>/dev/null
        n=0
        while kill -0 "$DI_PID" 2>/dev/null && [ "$n" -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
        kill -9 "$DI_PID" 2>/dev/null; wait "$DI_PID" 2>/dev/null; DI_PID=""
    fi
    [ -n "$DI_DIR" ] && rm -rf "$DI_DIR"; DI_DIR=""
}
# disk_influx_load SET FILE — into database disk_SET; remembers the value count.
disk_influx_load() {
    curl -sf -o /dev/null -XPOST "http://127.0.0.1:$DI_PORT/query" --data-urlencode "q=CREATE DATABASE disk_$1" || return 1
    dil_port=$ING_PORT; ING_PORT=$DI_PORT
    disk_load "$2" "disk_$1" "influxdb_$1"; dil_rc=$?
    ING_PORT=$dil_port
    [ "$dil_rc" = 0 ] && eval "DI_N_$1=$DISK_VALUES"
    return "$dil_rc"
}
# disk_influx_settle — until the file list (names, sizes) is unchanged for 15 s.
disk_influx_settle() {
    dis_t0=$(now_ns); prev=""; same=0
    while [ $(($(now_ns) - dis_t0)) -lt $((DISK_SETTLE_S * 1000000000)) ]; do
        cur=$(find "$DI_DIR/data" "$DI_DIR/wal" -type f -exec ls -ln {} + 2>/dev/null | awk '{ print $5, $9 }' | cksum)
        if [ "$cur" = "$prev" ]; then same=$((same + 1)); else same=0; fi
        # at least 45 s in: the 30 s full-compaction timer must have fired
        [ "$same" -ge 3 ] && [ $(($(now_ns) - dis_t0)) -ge 45000000000 ] && break
        prev=$cur; sleep 5
    done
    printf '   influxdb: file list settled after %s s\n' "$(secs $(($(now_ns) - dis_t0)))"
}

disk_ratio() { # NAME A B TARGET
    [ -n "$2" ] && [ -n "$3" ] || return 0
    r=$(awk -v a="$2" -v b="$3" 'BEGIN { if (b <= 0) b = 1e-9; printf "%.2f", a / b }')
    ok=$(awk -v r="$r" -v t="$4" 'BEGIN { print (r <= t) ? "met" : "MISSED" }')
    fig "$1" "$r" "x (target <= $4: $ok)"
}

bench_disk() {
    section disk "bytes per value on disk after flush + merge: Strata, InfluxDB 1.6, VictoriaMetrics 1.79; bit-exact read-back"
    if [ ! -x "$BUILD/stratad" ] || [ ! -x "$STRATA_BIN" ] || [ ! -x "$BUILD/bench/loadgen" ]; then
        skip "$BUILD/stratad, $STRATA_BIN or $BUILD/bench/loadgen not built"; return
    fi
    command -v curl > /dev/null 2>&1 || { skip "curl not installed"; return; }
    command -v python3 > /dev/null 2>&1 || { skip "python3 not installed"; return; }
    td0=$(now_ns)
    disk_write_verifier
    trap 'ingest_stop; disk_influx_stop; rm -rf "$SCRATCH"' EXIT
    trap 'ingest_stop; disk_influx_stop; rm -rf "$SCRATCH"; exit 130' INT TERM
    case " $DISK_TARGETS " in *" influxdb "*) disk_influx_start || printf '   influxdb skipped: %s\n' "${ING_SKIP:-did not start}" ;; esac
    sets=""; DISK_RSS_MAX=0; DISK_RSS_SET=""
    for set in $DISK_SETS; do
        if [ "$set" = nab ] && [ -z "${NAB_DIR:-}" ]; then printf '   nab: skipped (NAB_DIR not set)\n'; continue; fi
        f=$SCRATCH/disk_$set.lp
        if ! disk_make_set "$set" "$f" 2> "$SCRATCH/disk_gen.err"; then
            sed 's/^/   /' "$SCRATCH/disk_gen.err"; fail "$set: making the data set"; continue
        fi
        printf '   -- %s: %s lines, %s bytes of line protocol\n' "$set" "$(wc -l < "$f" | tr -d ' ')" "$(wc -c < "$f" | tr -d ' ')"
        DS_B=""; DV_B=""
        case " $DISK_TARGETS " in *" strata "*) disk_strata "$set" "$f" ;; esac
        case " $DISK_TARGETS " in *" vm "*) disk_vm "$set" "$f" ;; esac
        if [ -n "$DI_PID" ]; then disk_influx_load "$set" "$f" || printf '   influxdb: loading %s failed\n' "$set"; fi
        eval "DS_B_$set=\$DS_B; DV_B_$set=\$DV_B"
        sets="$sets $set"
        rm -f "$f"
    done
    if [ -n "$DI_PID" ]; then
        disk_influx_settle
        for set in $sets; do
            n=$(eval "echo \${DI_N_$set:-}")
            [ -n "$n" ] || continue
            b=$(alloc_bytes "$DI_DIR/data/disk_$set" "$DI_DIR/wal/disk_$set")
            v=$(bpv "$b" "$n")
            eval "DI_B_$set=$v"
            ntsm=$(find "$DI_DIR/data/disk_$set" -name '*.tsm' | wc -l | tr -d ' ')
            fig "disk_${set}_influxdb" "$v" "bytes/value allocated, data + wal ($b B; .tsm $(file_bytes "$DI_DIR/data/disk_$set" '*.tsm') B in $ntsm files, .wal $(file_bytes "$DI_DIR/wal/disk_$set" '*.wal') B)"
        done
        disk_influx_stop
    fi
    trap 'rm -rf "$SCRATCH"' EXIT
    trap 'rm -rf "$SCRATCH"; exit 130' INT TERM
    [ "$DISK_RSS_MAX" -gt 0 ] &&
        fig "disk_strata_peak_rss" "$DISK_RSS_MAX" "MiB VmHWM, the largest over the sets ($DISK_RSS_SET) with --max-head-bytes $DISK_HEAD"
    case $DISK_HEAD in
    *MiB) [ "$DISK_RSS_MAX" -gt 0 ] &&
        fig "disk_strata_rss_over_head" "$((DISK_RSS_MAX - ${DISK_HEAD%MiB}))" \
            "MiB of that above --max-head-bytes (request bodies, WAL queue, index, allocator; writers wait while the head is full)" ;;
    esac
    for set in $sets; do
        s=$(eval "echo \${DS_B_$set:-}"); v=$(eval "echo \${DV_B_$set:-}"); i=$(eval "echo \${DI_B_$set:-}")
        case $set in plant | dec2) tv=0.8 ;; nab | sparse) tv=0.999 ;; *) tv=1.0 ;; esac
        case $set in cpu) ti=0.9 ;; nab | sparse) ti=0.999 ;; *) ti="" ;; esac
        disk_ratio "disk_${set}_strata_vs_vm" "$s" "$v" "$tv"
        if [ -n "$ti" ]; then disk_ratio "disk_${set}_strata_vs_influxdb" "$s" "$i" "$ti"
        elif [ -n "$s" ] && [ -n "$i" ]; then
            fig "disk_${set}_strata_vs_influxdb" "$(awk -v a="$s" -v b="$i" 'BEGIN { printf "%.2f", a / b }')" "x (no target)"
        fi
    done
    printf '   section time: %s s\n' "$(secs $(($(now_ns) - td0)))"
}

# ---- scan: full-column aggregation speed on Strata after flush + merge ----
#
# Loads `strata gen cpu --hosts BENCH_SCAN_HOSTS --points BENCH_SCAN_POINTS
# --decimals 2` (default BENCH_HOSTS x BENCH_POINTS) into a fresh stratad
# (--wal-fsync never), POSTs /internal/force_flush and /internal/force_merge,
# then times with $BUILD/bench/qbench (BENCH_SCAN_RUNS, 20, after one warm-up;
# medians above the /ping floor):
#   all   SELECT max(usage_user), mean(usage_user), count(usage_user) FROM cpu
#         WHERE time >= t0 AND time < t0 + points x 10 s (the whole data)
#   byh   the same GROUP BY time(1h), hostname
# and reports values/s = usage_user values / (median - floor). Merged
# segment blocks hold 8192 points (22.7 h at 10 s), so `all` can be answered
# from block statistics while `byh` must fold every point (no block fits in
# a 1 h window). Then the server is restarted on the same data with
# BENCH_SCAN_NOSTATS_ARGS (default "--no-query-block-stats": every point
# decoded; empty skips this) and the same queries are timed again: the
# statistics path and the full-decode path.
# The answers are checked: count = hosts x points, and the same body with and
# without the flag.

SCAN_HOSTS=${BENCH_SCAN_HOSTS:-$HOSTS}
SCAN_POINTS=${BENCH_SCAN_POINTS:-$POINTS}
SCAN_RUNS=${BENCH_SCAN_RUNS:-20}
SCAN_NOSTATS=${BENCH_SCAN_NOSTATS_ARGS---no-query-block-stats}

# scan_run LABEL — qbench both queries on the running server; figures LABEL_*.
scan_run() {
    sr_t0=$((ING_START_S * 1000000000)); sr_te=$(((ING_START_S + SCAN_POINTS * ING_STEP_S) * 1000000000))
    sr_q1="SELECT max(usage_user), mean(usage_user), count(usage_user) FROM cpu WHERE time >= $sr_t0 AND time < $sr_te"
    mkdir -p "$SCRATCH/scan_body_$1"
    "$BUILD/bench/qbench" --port "$ING_PORT" --runs "$SCAN_RUNS" --ping /ping --save "$SCRATCH/scan_body_$1" \
        --timeout-s 240 \
        --query all /query --param db=bench --param "q=$sr_q1" --expect '"series"' \
        --query byh /query --param db=bench --param "q=$sr_q1 GROUP BY time(1h), hostname" --expect '"series"' \
        > "$SCRATCH/qbench_scan_$1.out" 2> "$SCRATCH/qbench_scan_$1.err"
    sr_rc=$?
    sed 's/^/   /' "$SCRATCH/qbench_scan_$1.out"
    head -n 3 "$SCRATCH/qbench_scan_$1.err" | sed 's/^/   /'
    [ "$sr_rc" = 0 ] || fail "scan $1: qbench reported errors"
    # count(usage_user) in the ungrouped answer: the row's last number
    sr_cnt=$(sed -n 's/.*"values":\[\[[^]]*,\([0-9]*\)\]\].*/\1/p' "$SCRATCH/scan_body_$1/all.json" 2>/dev/null | head -n 1)
    if [ "$sr_cnt" != "$SCAN_VALUES" ]; then
        fail "scan $1: count(usage_user) = ${sr_cnt:-?}, want $SCAN_VALUES"
    fi
    for l in all byh; do
        m=$(query_val "scan_$1" "$l" median_ms); p=$(query_val "scan_$1" ping median_ms)
        d=$(query_above "scan_$1" "$l")
        if [ -z "$d" ]; then continue; fi
        fig "scan_${l}_$1" "$(awk -v n="$SCAN_VALUES" -v d="$d" 'BEGIN { printf "%.1f", n / (d / 1e3) / 1e6 }')" \
            "M values/s ($SCAN_VALUES values; median $m ms, floor $p ms)"
    done
}

bench_scan() {
    section scan "full-column scans over cpu --decimals 2 ($SCAN_HOSTS hosts x $SCAN_POINTS points) after flush + merge"
    if [ ! -x "$BUILD/stratad" ] || [ ! -x "$BUILD/bench/loadgen" ] || [ ! -x "$BUILD/bench/qbench" ]; then
        skip "$BUILD/stratad, $BUILD/bench/loadgen or $BUILD/bench/qbench not built"; return
    fi
    command -v curl > /dev/null 2>&1 || { skip "curl not installed"; return; }
    ts0=$(now_ns)
    sf=$SCRATCH/scan_cpu.lp
    if ! "$STRATA_BIN" gen cpu --hosts "$SCAN_HOSTS" --points "$SCAN_POINTS" --seed "$SEED" --decimals 2 --output "$sf"; then
        fail "strata gen cpu for the scan data"; return
    fi
    SCAN_VALUES=$((SCAN_HOSTS * SCAN_POINTS))
    trap 'ingest_stop; rm -rf "$SCRATCH"' EXIT
    trap 'ingest_stop; rm -rf "$SCRATCH"; exit 130' INT TERM
    sd=$SCRATCH/scan_strata
    if ! disk_start_strata "$sd"; then fail "stratad did not start"; rm -f "$sf"; return; fi
    ING_DIR=$sd
    if ! disk_load "$sf" bench scan; then fail "loading the scan data"; ingest_stop; rm -f "$sf"; return; fi
    rm -f "$sf"
    disk_settle_strata
    if ! disk_post /internal/force_flush || ! disk_post /internal/force_merge; then
        fail "force_flush/force_merge"; ingest_stop; return
    fi
    printf '   loaded, flushed and merged in %s s (%s .seg files)\n' "$(secs $(($(now_ns) - ts0)))" \
        "$(find "$sd/data/db" -name '*.seg' | wc -l | tr -d ' ')"
    scan_run default
    if [ -n "$SCAN_NOSTATS" ]; then
        kill "$ING_PID" 2>/dev/null; wait "$ING_PID" 2>/dev/null; ING_PID=""
        # shellcheck disable=SC2086
        if disk_start_strata "$sd" $SCAN_NOSTATS; then
            scan_run nostats
            for l in all byh; do
                cmp -s "$SCRATCH/scan_body_default/$l.json" "$SCRATCH/scan_body_nostats/$l.json" ||
                    fail "scan $l: answers differ with $SCAN_NOSTATS"
            done
        else
            fail "stratad $SCAN_NOSTATS did not start"
        fi
    else
        printf '   note: BENCH_SCAN_NOSTATS_ARGS is empty: the run without block statistics is skipped\n'
    fi
    ingest_stop
    trap 'rm -rf "$SCRATCH"' EXIT
    trap 'rm -rf "$SCRATCH"; exit 130' INT TERM
    printf '   section time: %s s\n' "$(secs $(($(now_ns) - ts0)))"
}

MQ_CONNS=${BENCH_MQTT_CONNS:-8}
MQ_MESSAGES=${BENCH_MQTT_MESSAGES:-2000000}
MQ_WINDOW=${BENCH_MQTT_WINDOW:-2000}

# mqtt_wait_file FILE PID — until FILE is non-empty (10 s) while PID lives.
mqtt_wait_file() {
    n=0
    while [ ! -s "$1" ] && [ "$n" -lt 100 ]; do
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1; n=$((n + 1))
    done
    [ -s "$1" ]
}

mqtt_stop() { # PID...
    for p in "$@"; do
        kill "$p" 2>/dev/null
        n=0
        while kill -0 "$p" 2>/dev/null && [ "$n" -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
        kill -9 "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
}

bench_mqtt() {
    section mqtt "MQTT publish throughput: $MQ_CONNS connections, $MQ_MESSAGES single-value messages per run"
    if [ ! -x "$BUILD/stratad" ] || [ ! -x "$BUILD/bench/mqttload" ]; then
        skip "$BUILD/stratad or $BUILD/bench/mqttload not built"; return
    fi
    dir=$(mktemp -d "$SCRATCH/mqtt.XXXXXX") || return
    "$BUILD/stratad" --data "$dir/data" --http 127.0.0.1:0 --mqtt 127.0.0.1:0 --log-level warn \
        --ready-file "$dir/ready" > "$dir/log" 2>&1 &
    pid=$!
    if ! mqtt_wait_file "$dir/ready" "$pid"; then
        tail -n 5 "$dir/log" | sed 's/^/   /'; fail "stratad did not start"; mqtt_stop "$pid"; return
    fi
    port=$(sed -n 's/^mqtt=.*:\([0-9]*\)$/\1/p' "$dir/ready")
    for q in 0 1; do
        run_bin "mqtt_strata_qos$q" mqttload "$BUILD/bench/mqttload" --port "$port" --conns "$MQ_CONNS" \
            --messages "$MQ_MESSAGES" --qos "$q" --window "$MQ_WINDOW" --name strata
    done
    mqtt_stop "$pid"
    printf "   stratad warnings logged: %s\n" "$(grep -c warn "$dir/log")"
    # Reference: the same load through a mosquitto broker to one subscriber.
    mosq=$(command -v mosquitto || { [ -x /usr/sbin/mosquitto ] && echo /usr/sbin/mosquitto; })
    if [ -z "$mosq" ] || ! command -v mosquitto_sub > /dev/null 2>&1; then
        skip "mosquitto reference: mosquitto / mosquitto_sub not installed"; rm -rf "$dir"; return
    fi
    mport=$(ingest_free_port) || { skip "no free port for mosquitto"; rm -rf "$dir"; return; }
    printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n' \
        "$mport" > "$dir/mosquitto.conf"
    "$mosq" -c "$dir/mosquitto.conf" > "$dir/mosquitto.log" 2>&1 &
    mpid=$!
    n=0
    until mosquitto_pub -p "$mport" -t probe -m x > /dev/null 2>&1 || [ "$n" -ge 100 ]; do sleep 0.1; n=$((n + 1)); done
    mosquitto_sub -p "$mport" -t 'bench/#' -q 0 > /dev/null 2>&1 &
    spid=$!
    sleep 0.3
    for q in 0 1; do
        run_bin "mqtt_mosquitto_qos$q" mqttload "$BUILD/bench/mqttload" --port "$mport" --conns "$MQ_CONNS" \
            --messages "$MQ_MESSAGES" --qos "$q" --window "$MQ_WINDOW" --name mosquitto
    done
    mqtt_stop "$spid" "$mpid"
    rm -rf "$dir"
}

# ---- import: strata import over HTTP and --offline, beside influx -import ----
#
# Data (scratch files, removed after use):
#   lp   strata gen cpu --hosts BENCH_IMPORT_HOSTS (100) --points P, P chosen
#        so the file is ~BENCH_IMPORT_LP_MB MiB (1024) of line protocol
#   csv  a wide CSV of ~BENCH_IMPORT_CSV_MB MiB (200): time (epoch ns) and one
#        column per field. `strata gen cpu --format csv` also writes the ten
#        tag columns (hostname, region, ...), which strata import's wide form
#        can only read as string fields (and every host would land in one
#        series: last write wins). Unless `strata import --help` offers
#        --tag-columns (then the gen CSV is used as it is, with
#        --tag-columns hostname,...,service_environment), the CSV is
#        `strata gen cpu --hosts 1 --format csv` with the tag columns cut off
#        and the host's tags passed as --tag k=v: one series, 10 float columns.
# Runs (BENCH_IMPORT_TARGETS, default all five, in this order):
#   influx_lp   InfluxDB 1.6 started as in the ingest section; `influx -import
#               -path F -precision ns` (Debian influxdb-client) with F = a
#               "# DDL / CREATE DATABASE bench / # DML / # CONTEXT-DATABASE:
#               bench" header + the lp file (copied untimed)
#   http_lp     `strata import --url ... --db bench --workers BENCH_IMPORT_WORKERS
#               (2) FILE.lp` into a fresh stratad (--wal-fsync group, defaults)
#   offline_lp  `strata import --offline DIR --db bench FILE.lp`, DIR empty
#   http_csv    as http_lp with the csv file (--measurement cpu --time-format
#               epoch-ns ...)
#   offline_csv as offline_lp with the csv file
# Each is timed from start to exit (for HTTP, plus the time until a count
# query sees every value; offline: the CLI's exit, after its closing flush)
# and its peak RSS read by /usr/bin/time -v (installed with apt-get when
# missing and root; else VmHWM sampled every 50 ms). values = lines x 10
# fields. Offline imports are checked afterwards (untimed) by starting
# stratad on the directory and counting; influx -import must report
# "Failed 0 inserts". Figures: values/s per run, CLI peak RSS vs the 100 MiB
# target, the server's peak RSS for the HTTP runs, Strata HTTP / influx
# -import (target >= 3), offline values/s vs 10 M values/s.
# BENCH_IMPORT_RUNS (3): runs per target, each on a fresh server or directory;
# the figure is the median values/s and the largest peak RSS.
# BENCH_IMPORT_PERF=1: then `perf record -g` one more offline lp import and
# one HTTP lp import (stratad and the CLI) and print the hottest symbols.

IMP_LP_MB=${BENCH_IMPORT_LP_MB:-1024}
IMP_CSV_MB=${BENCH_IMPORT_CSV_MB:-200}
IMP_HOSTS=${BENCH_IMPORT_HOSTS:-100}
IMP_WORKERS=${BENCH_IMPORT_WORKERS:-2}
IMP_TARGETS=${BENCH_IMPORT_TARGETS:-influx_lp http_lp offline_lp http_csv offline_csv}
IMP_PERF=${BENCH_IMPORT_PERF:-0}
IMP_RUNS=${BENCH_IMPORT_RUNS:-3}
IMP_TAGKEYS="hostname region datacenter rack os arch team service service_version service_environment"
IMP_TIMEBIN=""
IMP_CSV_MODE=cutoff
IMP_CSV_HOSTS=1

# imp_points BYTES TARGET_MIB — points per host, given BYTES for 100 points of every host.
imp_points() { awk -v s="$1" -v m="$2" 'BEGIN { p = int(m * 1048576 * 100 / s + 0.999); if (p < 1) p = 1; print p }'; }

# imp_time NAME CMD... — run CMD (output in $SCRATCH/imp_NAME.out); sets IT_RC,
# IT_NS (wall time), IT_RSS (peak RSS, MiB) and IT_CPU (user + sys seconds).
imp_time() {
    it_out=$SCRATCH/imp_$1.out; shift
    it_t0=$(now_ns)
    if [ -n "$IMP_TIMEBIN" ]; then
        "$IMP_TIMEBIN" -v -o "$it_out.time" "$@" > "$it_out" 2>&1
        IT_RC=$?
        IT_NS=$(($(now_ns) - it_t0))
        IT_RSS=$(awk -F': *' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$it_out.time")
        IT_CPU=$(awk -F': *' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$it_out.time")
    else
        "$@" > "$it_out" 2>&1 &
        it_pid=$!; it_hwm=0
        while :; do
            it_st=$(awk '/^State:/ { print $2 }' "/proc/$it_pid/status" 2>/dev/null)
            [ -z "$it_st" ] || [ "$it_st" = Z ] && break
            it_h=$(awk '/^VmHWM:/ { print $2 }' "/proc/$it_pid/status" 2>/dev/null)
            [ -n "$it_h" ] && [ "$it_h" -gt "$it_hwm" ] && it_hwm=$it_h
            sleep 0.05
        done
        wait "$it_pid"; IT_RC=$?
        IT_NS=$(($(now_ns) - it_t0))
        IT_RSS=$(awk -v k="$it_hwm" 'BEGIN { printf "%.1f", k / 1024 }')
        IT_CPU="?"
    fi
}

# imp_wait_count TARGET WANT — poll ingest_count_TARGET until WANT values are
# visible (ING_POLL_S at most); sets IC_NS (time until the answering query
# was sent) and IC_GOT. Non-zero if it never got there.
imp_wait_count() {
    ic_t0=$(now_ns); ic_deadline=$((ic_t0 + ING_POLL_S * 1000000000)); ING_FIELDS=10
    while :; do
        ic_tq=$(now_ns)
        IC_GOT=$("ingest_count_$1")
        [ -n "$IC_GOT" ] && [ "$IC_GOT" -ge "$2" ] 2>/dev/null && break
        [ "$ic_tq" -gt "$ic_deadline" ] && { IC_NS=$((ic_tq - ic_t0)); return 1; }
        sleep 0.2
    done
    IC_NS=$((ic_tq - ic_t0))
}

# imp_summary NAME — strata import's summary line, indented.
imp_summary() { grep -v '^[[:space:]]*$' "$SCRATCH/imp_$1.out" | tail -n 3 | sed 's/^/   /'; }

# imp_run_done NAME VALUES NS CLI_RSS SERVER_RSS NOTE — one run's line; its
# values/s and peak RSS go to $SCRATCH/imp_runs_NAME for imp_target.
imp_run_done() {
    ird_vps=$(awk -v v="$2" -v ns="$3" 'BEGIN { if (ns <= 0) ns = 1; printf "%.0f", v / (ns / 1e9) }')
    printf '   %s: %s values in %s s (%s): %s M values/s, client peak RSS %s MiB%s, client CPU %s s\n' "$1" "$2" \
        "$(secs "$3")" "$6" "$(awk -v v="$ird_vps" 'BEGIN { printf "%.2f", v / 1e6 }')" "$4" "${5:+, server $5 MiB}" "$IT_CPU"
    printf '%s %s %s\n' "$ird_vps" "$4" "${5:-0}" >> "$SCRATCH/imp_runs_$1"
}

# imp_target NAME FUNC ARGS... — BENCH_IMPORT_RUNS runs of FUNC ARGS, then the
# figures: median values/s, the largest client (and server) peak RSS.
imp_target() {
    itn=$1; shift
    : > "$SCRATCH/imp_runs_$itn"
    itr=0
    while [ "$itr" -lt "$IMP_RUNS" ]; do
        itr=$((itr + 1))
        "$@" || break
    done
    [ -s "$SCRATCH/imp_runs_$itn" ] || return 0
    itc=$(wc -l < "$SCRATCH/imp_runs_$itn" | tr -d ' ')
    itv=$(sort -n "$SCRATCH/imp_runs_$itn" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
    itm=$(awk '$2 > m { m = $2 } END { printf "%.1f", m }' "$SCRATCH/imp_runs_$itn")
    its=$(awk '$3 > m { m = $3 } END { print m + 0 }' "$SCRATCH/imp_runs_$itn")
    eval "IMP_R_$itn=$itv"
    fig "import_${itn}_values_s" "$(awk -v v="$itv" 'BEGIN { printf "%.2f", v / 1e6 }')" "M values/s (median of $itc)"
    fig "import_${itn}_cli_rss" "$itm" "MiB client peak RSS (target < 100: $(awk -v r="$itm" 'BEGIN { print (r < 100) ? "met" : "MISSED" }'))"
    case $itn in
    http_*) fig "import_${itn}_server_rss" "$its" "MiB VmHWM of stratad" ;;
    influx_*) fig "import_${itn}_server_rss" "$its" "MiB VmHWM of influxd" ;;
    offline_*) fig "import_${itn}_vs_target" "$(awk -v v="$itv" 'BEGIN { printf "%.2f", v / 1e7 }')" \
        "x 10 M values/s ($(awk -v v="$itv" 'BEGIN { print (v >= 1e7) ? "met" : "MISSED" }'))" ;;
    esac
}

# imp_strata_args KIND — the format options for KIND (lp | csv).
imp_strata_args() {
    [ "$1" = lp ] && return 0
    printf '%s\n' --measurement cpu --time-format epoch-ns
    if [ "$IMP_CSV_MODE" = tagcols ]; then
        printf '%s\n' --tag-columns "$(echo "$IMP_TAGKEYS" | tr ' ' ',')"
    else
        cat "$SCRATCH/imp_csv_tags"
    fi
}

# imp_http KIND FILE LINES — fresh stratad (--wal-fsync group), strata import over HTTP.
imp_http() {
    ING_SKIP=""
    if ! ingest_start_strata group; then fail "http_$1: stratad did not start"; ingest_stop; return 1; fi
    old_ifs=$IFS; IFS='
'
    set -f
    # shellcheck disable=SC2046
    set -- "$1" "$2" "$3" $(imp_strata_args "$1")
    set +f
    IFS=$old_ifs
    ih_k=$1; ih_f=$2; ih_lines=$3; shift 3
    imp_time "http_$ih_k" "$STRATA_BIN" import --url "http://127.0.0.1:$ING_PORT" --db bench \
        --workers "$IMP_WORKERS" "$@" "$ih_f"
    imp_summary "http_$ih_k"
    if [ "$IT_RC" != 0 ]; then fail "http_$ih_k: strata import exited $IT_RC"; ingest_stop; return 1; fi
    want=$((ih_lines * 10))
    if ! imp_wait_count strata "$want"; then
        fail "http_$ih_k: only ${IC_GOT:-?} of $want values counted after ${ING_POLL_S}s"; ingest_stop; return 1
    fi
    srss=$(ingest_hwm_mib "$ING_PID")
    imp_run_done "http_$ih_k" "$want" $((IT_NS + IC_NS)) "$IT_RSS" "$srss" "import $(secs "$IT_NS") s + $(secs "$IC_NS") s until counted"
    ingest_stop
}

# imp_offline KIND FILE LINES — strata import --offline into an empty directory,
# then (untimed) stratad on it to count.
imp_offline() {
    ING_DIR=$(mktemp -d "$SCRATCH/offline.XXXXXX") || return 1
    old_ifs=$IFS; IFS='
'
    set -f
    # shellcheck disable=SC2046
    set -- "$1" "$2" "$3" $(imp_strata_args "$1")
    set +f
    IFS=$old_ifs
    io_k=$1; io_f=$2; io_lines=$3; shift 3
    imp_time "offline_$io_k" "$STRATA_BIN" import --offline "$ING_DIR/data" --db bench "$@" "$io_f"
    imp_summary "offline_$io_k"
    if [ "$IT_RC" != 0 ]; then fail "offline_$io_k: strata import exited $IT_RC"; ingest_stop; return 1; fi
    printf '   on disk: %s bytes allocated under data/\n' "$(du -sB1 "$ING_DIR/data" | awk '{ print $1 }')"
    want=$((io_lines * 10))
    io_dir=$ING_DIR
    if ! disk_start_strata "$io_dir"; then fail "offline_$io_k: stratad did not start on the imported directory"; ingest_stop; return 1; fi
    ING_DIR=$io_dir
    if ! imp_wait_count strata "$want"; then
        fail "offline_$io_k: only ${IC_GOT:-?} of $want values counted"; ingest_stop; return 1
    fi
    imp_run_done "offline_$io_k" "$want" "$IT_NS" "$IT_RSS" "" "to the CLI's exit; counted afterwards by stratad"
    ingest_stop
}

# imp_influx FILE LINES — influx -import into a fresh InfluxDB 1.6.
imp_influx() {
    ingest_need_pkg influx influxdb-client || { skip "influx_lp: influx not installed (package influxdb-client)"; return 1; }
    ING_SKIP=""
    if ! ingest_start_influxdb; then skip "influx_lp: ${ING_SKIP:-influxd did not start}"; ingest_stop; return 1; fi
    ii_f=$ING_DIR/import.lp
    { printf '# DDL\nCREATE DATABASE bench\n# DML\n# CONTEXT-DATABASE: bench\n'; cat "$1"; } > "$ii_f" ||
        { fail "influx_lp: writing the import file"; ingest_stop; return 1; }
    imp_time influx_lp influx -host 127.0.0.1 -port "$ING_PORT" -import -path "$ii_f" -precision ns
    rm -f "$ii_f"
    grep -v 'Processed [0-9]* lines' "$SCRATCH/imp_influx_lp.out" | tail -n 3 | sed 's/^/   /'
    if [ "$IT_RC" != 0 ] || ! grep -q 'Failed 0 inserts' "$SCRATCH/imp_influx_lp.out"; then
        fail "influx_lp: influx -import exited $IT_RC or reported failed inserts"; ingest_stop; return 1
    fi
    want=$(($2 * 10))
    if ! imp_wait_count influxdb "$want"; then
        fail "influx_lp: only ${IC_GOT:-?} of $want values counted after ${ING_POLL_S}s"; ingest_stop; return 1
    fi
    srss=$(ingest_hwm_mib "$ING_PID")
    imp_run_done influx_lp "$want" $((IT_NS + IC_NS)) "$IT_RSS" "$srss" "import $(secs "$IT_NS") s + $(secs "$IC_NS") s until counted"
    ingest_stop
}

# imp_perf_top DATA LABEL — the hottest symbols of a perf.data file.
imp_perf_top() {
    if [ ! -s "$1" ]; then printf '   perf (%s): no profile\n' "$2"; return; fi
    printf '   perf (%s): hottest symbols, self time\n' "$2"
    perf report -i "$1" --stdio --no-children --sort comm,dso,symbol -g none --percent-limit 1.5 2>/dev/null |
        grep -v '^#' | sed '/^$/d' | head -n 25 | sed 's/^/     /'
    rm -f "$1"
}

# imp_perf FILE — perf record one offline and one HTTP lp import.
imp_perf() {
    command -v perf > /dev/null 2>&1 || { printf '   perf: not installed\n'; return; }
    ING_DIR=$(mktemp -d "$SCRATCH/perf.XXXXXX") || return
    perf record -g -o "$SCRATCH/perf_off.data" -- "$STRATA_BIN" import --offline "$ING_DIR/data" --db bench "$1" \
        > "$SCRATCH/perf_off.log" 2>&1
    imp_perf_top "$SCRATCH/perf_off.data" "strata import --offline"
    ingest_stop
    ingest_start_strata group || { ingest_stop; return; }
    perf record -g -o "$SCRATCH/perf_srv.data" -p "$ING_PID" > "$SCRATCH/perf_srv.log" 2>&1 &
    pp=$!
    sleep 0.5
    perf record -g -o "$SCRATCH/perf_cli.data" -- "$STRATA_BIN" import --url "http://127.0.0.1:$ING_PORT" --db bench \
        --workers "$IMP_WORKERS" "$1" > "$SCRATCH/perf_cli.log" 2>&1
    kill -INT "$pp" 2>/dev/null; wait "$pp" 2>/dev/null
    imp_perf_top "$SCRATCH/perf_cli.data" "strata import over HTTP"
    imp_perf_top "$SCRATCH/perf_srv.data" "stratad during the HTTP import"
    ingest_stop
}

# imp_csv_gen POINTS — the wide CSV on stdout (see the section comment).
imp_csv_gen() {
    if [ "$IMP_CSV_MODE" = tagcols ]; then
        "$STRATA_BIN" gen cpu --hosts "$IMP_CSV_HOSTS" --points "$1" --seed "$SEED" --format csv
    else
        "$STRATA_BIN" gen cpu --hosts "$IMP_CSV_HOSTS" --points "$1" --seed "$SEED" --format csv | cut -d, -f1,12-
    fi
}

imp_want() { case " $IMP_TARGETS " in *" $1 "*) return 0 ;; esac; return 1; }

bench_import() {
    section import "strata import (HTTP, --offline) beside influx -import: ~$IMP_LP_MB MiB line protocol, ~$IMP_CSV_MB MiB wide CSV"
    if [ ! -x "$BUILD/stratad" ] || [ ! -x "$STRATA_BIN" ]; then skip "$BUILD/stratad or $STRATA_BIN not built"; return; fi
    command -v curl > /dev/null 2>&1 || { skip "curl not installed"; return; }
    ti0=$(now_ns)
    # the 2 cores may be shared: the load says how noisy these figures are
    printf '   load average at start: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
    if [ -x /usr/bin/time ] || ingest_need_pkg /usr/bin/time time; then IMP_TIMEBIN=/usr/bin/time
    else printf '   /usr/bin/time missing: peak RSS sampled from /proc/PID/status VmHWM every 50 ms\n'; fi
    trap 'ingest_stop; rm -rf "$SCRATCH"' EXIT
    trap 'ingest_stop; rm -rf "$SCRATCH"; exit 130' INT TERM

    # ---- line protocol ----
    lpf=$SCRATCH/import_cpu.lp
    if imp_want influx_lp || imp_want http_lp || imp_want offline_lp; then
        s=$("$STRATA_BIN" gen cpu --hosts "$IMP_HOSTS" --points 100 --seed "$SEED" | wc -c | tr -d ' ')
        pts=$(imp_points "$s" "$IMP_LP_MB")
        if ! "$STRATA_BIN" gen cpu --hosts "$IMP_HOSTS" --points "$pts" --seed "$SEED" --output "$lpf"; then
            fail "strata gen cpu for the lp file"; rm -f "$lpf"
        else
            lines=$((IMP_HOSTS * pts))
            printf '   lp: %s hosts x %s points = %s lines, %s values, %s bytes\n' "$IMP_HOSTS" "$pts" "$lines" \
                $((lines * 10)) "$(wc -c < "$lpf" | tr -d ' ')"
            imp_want influx_lp && imp_target influx_lp imp_influx "$lpf" "$lines"
            imp_want http_lp && imp_target http_lp imp_http lp "$lpf" "$lines"
            imp_want offline_lp && imp_target offline_lp imp_offline lp "$lpf" "$lines"
            [ "$IMP_PERF" = 1 ] && imp_perf "$lpf"
            rm -f "$lpf"
        fi
    fi

    # ---- wide CSV ----
    csvf=$SCRATCH/import_cpu.csv
    if imp_want http_csv || imp_want offline_csv; then
        if "$STRATA_BIN" import --help 2>&1 | grep -q -- '--tag-columns'; then
            IMP_CSV_MODE=tagcols; IMP_CSV_HOSTS=$IMP_HOSTS
        else
            IMP_CSV_MODE=cutoff; IMP_CSV_HOSTS=1
            # host_0's tag values from the first data row, as --tag k=v
            "$STRATA_BIN" gen cpu --hosts 1 --points 1 --seed "$SEED" --format csv | sed -n 2p | cut -d, -f2-11 |
                tr ',' '\n' | awk -v k="$IMP_TAGKEYS" 'BEGIN { n = split(k, kk, " ") } { print "--tag"; print kk[NR] "=" $0 }' \
                > "$SCRATCH/imp_csv_tags"
        fi
        s=$(imp_csv_gen 100 | wc -c | tr -d ' ')
        ch=$IMP_CSV_HOSTS
        pts=$(imp_points "$s" "$IMP_CSV_MB")
        if ! imp_csv_gen "$pts" > "$csvf"; then
            fail "strata gen cpu --format csv"; rm -f "$csvf"
        else
            lines=$((ch * pts))
            printf '   csv: %s hosts x %s points = %s rows, %s values, %s bytes, %s\n' "$ch" "$pts" "$lines" \
                $((lines * 10)) "$(wc -c < "$csvf" | tr -d ' ')" \
                "$([ "$IMP_CSV_MODE" = tagcols ] && echo "tag columns as tags (--tag-columns)" ||
                    echo "tag columns cut off, host_0's tags as --tag (strata import has no --tag-columns)")"
            printf '   csv header: %s\n' "$(head -n 1 "$csvf" | cut -c 1-100)..."
            imp_want http_csv && imp_target http_csv imp_http csv "$csvf" "$lines"
            imp_want offline_csv && imp_target offline_csv imp_offline csv "$csvf" "$lines"
            rm -f "$csvf"
        fi
    fi

    # ---- ratios ----
    ix=${IMP_R_influx_lp:-}
    for k in lp csv; do
        h=$(eval "echo \${IMP_R_http_$k:-}")
        if [ -z "$h" ] || [ -z "$ix" ]; then continue; fi
        r=$(awk -v a="$h" -v b="$ix" 'BEGIN { printf "%.2f", a / b }')
        note=""; [ "$k" = csv ] && note=", vs influx -import's lp figure: it reads no CSV"
        fig "import_http_${k}_vs_influx" "$r" "x values/s (target >= 3: $(awk -v r="$r" 'BEGIN { print (r >= 3) ? "met" : "MISSED" }')$note)"
    done
    trap 'rm -rf "$SCRATCH"' EXIT
    trap 'rm -rf "$SCRATCH"; exit 130' INT TERM
    printf '   section time: %s s\n' "$(secs $(($(now_ns) - ti0)))"
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
