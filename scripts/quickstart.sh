#!/usr/bin/env bash
# The main job on a fresh machine: set up, build the bundled example into firmware for the
# Nucleo-F746ZG, then run it in QEMU and check every output bit for bit.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
VENV="${TINYGEN_VENV:-.venv}"
case "$VENV" in /*) ;; *) VENV="$(pwd)/$VENV" ;; esac
cd examples/digits          # its tinygen.toml names the model, calibration data and board
"$VENV/bin/tinygen" build
"$VENV/bin/tinygen" test
