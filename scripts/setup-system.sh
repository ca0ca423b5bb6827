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
exec "$(dirname "$0")/apt-install.sh" "${packages[@]}"
