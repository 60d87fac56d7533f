#!/bin/sh
# tools/check-layers.sh — includes point down only:
#   server -> {ingest, query} -> storage -> common; ingest and query never
#   include each other. tools/ and tests/ may include anything.
fail=0
check() { # dir forbidden...
    dir=$1; shift
    for f in "$@"; do
        hits=$(grep -n "#include \"$f/" "$dir"/*.c "$dir"/*.h 2>/dev/null)
        if [ -n "$hits" ]; then
            echo "check-layers: $dir/ must not include $f/:"; echo "$hits"; fail=1
        fi
    done
}
check common storage ingest query server
check storage ingest query server
check ingest query server
check query ingest server
[ $fail = 0 ] && echo "check-layers: ok"
exit $fail
