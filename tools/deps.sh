#!/bin/sh
# tools/deps.sh — install the Debian packages Strata builds and tests with.
# Run by `make deps` (a prerequisite of make, make run, make test). Fast when
# everything is present. Why each package is here: README "Dependencies".
PKGS="tzdata liblz4-dev libzstd-dev libuv1-dev libsqlite3-dev node-llhttp zlib1g-dev libpcre2-dev pkg-config curl influxdb-client mosquitto mosquitto-clients zstd"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing"
if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "deps: missing packages and no root; run:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq && $SUDO apt-get install -y -qq $missing >/dev/null || {
    echo "deps: apt-get failed; run: apt-get update && apt-get install -y$missing" >&2
    exit 1
}
