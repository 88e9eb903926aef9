#!/usr/bin/env bash
# Run tinygen's whole test suite (host tests and the QEMU emulator suite) on all cores.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 -m pytest -n auto "$@"
