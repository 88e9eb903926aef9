#!/usr/bin/env bash
# Set up a fresh Debian 12 machine for tinygen: the Arm toolchain, QEMU and the Python package
# with its test extra. Safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

APT_PACKAGES=(gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm clang)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

python3 -m pip install --quiet --upgrade pip
python3 -m pip install --quiet -e '.[test]'
echo "tinygen is set up: $(command -v tinygen)"
