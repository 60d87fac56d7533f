#!/bin/sh
# tests/fuzz/run.sh BUILD SECONDS — run every libFuzzer target for SECONDS,
# starting from (and adding to a scratch copy of) its corpus in the repo.
build=$1; secs=${2:-30}
fail=0
for bin in "$build"/tests/fuzz/fuzz_*; do
    [ -x "$bin" ] || continue
    name=${bin##*/fuzz_}
    work=$(mktemp -d)
    [ -d "tests/fuzz/corpus/$name" ] && cp -r "tests/fuzz/corpus/$name/." "$work/"
    dict=""; [ -f "tests/fuzz/$name.dict" ] && dict="-dict=tests/fuzz/$name.dict"
    echo "fuzz: $name for ${secs}s"
    if ! "$bin" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 $dict "$work" >"$work.log" 2>&1; then
        echo "fuzz: $name FAILED"; tail -40 "$work.log"; fail=1
    else
        grep -E "^(#[0-9]+\s+DONE|Done)" "$work.log" | tail -1
    fi
    rm -rf "$work" "$work.log"
done
exit $fail
