#!/bin/sh
# Debian packages the reports and tests use, installed only when missing:
#   chromium                                  PDF reports and the Voila browser tests
#   prometheus, prometheus-pushgateway        the metrics integration tests (promtool too)
#   fonts-dejavu-core, fonts-liberation       readable text in PDFs and screenshots
#   openjdk-17-jre-headless                   Apache Spark (local mode) for the engine parity tests
# Needs root (or sudo) and apt-get; otherwise it prints what to install and carries on.
set -eu

missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v prometheus >/dev/null 2>&1 || missing="$missing prometheus"
command -v promtool >/dev/null 2>&1 || missing="$missing prometheus"
[ -x /usr/bin/prometheus-pushgateway ] || missing="$missing prometheus-pushgateway"
[ -d /usr/share/fonts/truetype/dejavu ] || missing="$missing fonts-dejavu-core fonts-liberation"
command -v java >/dev/null 2>&1 || missing="$missing openjdk-17-jre-headless"

if [ -z "$missing" ]; then
    exit 0
fi
packages=$(echo "$missing" | tr ' ' '\n' | sort -u | tr '\n' ' ')
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-system-deps: please install:$packages (no apt-get here)" >&2
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
        echo "install-system-deps: run as root or install:$packages" >&2
        exit 0
    fi
fi
echo "install-system-deps: installing$packages"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $packages >/dev/null
