#!/usr/bin/env bash
# Install the system packages eoforge builds and tests against, only those that are missing.
# Debian/Ubuntu: libgdal-dev + pkg-config (the gdal crate links GDAL), gdal-bin (gdallocationinfo,
# gdal_translate for comparisons), python3-gdal (GDAL's COG validator), python3-venv + curl (test servers),
# time (GNU time: peak memory in the benchmark scripts).
# usage: setup-system.sh [browser]   `browser` adds Chromium and its WebDriver (the report test opens the main
#                                    job's HTML report in a real headless browser).
set -euo pipefail

packages=(libgdal-dev gdal-bin pkg-config python3-gdal python3-venv curl time)
if [ "${1:-}" = browser ]; then
  packages+=(chromium chromium-driver)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: missing system packages: ${missing[*]} (no apt-get here; install them with your package manager)" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "error: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "installing system packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
