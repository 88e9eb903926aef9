#!/usr/bin/env bash
# Set up a fresh Debian 12 machine for tinygen: the Arm toolchain, QEMU, clang, llvm-19 (llvm-mca, for
# the cycle estimates) and chromium (the HTML report test) with apt, then a
# virtual environment (.venv, or $TINYGEN_VENV) holding tinygen and its test extra. Safe to run twice.
# The venv sees the system's Python packages (--system-site-packages), so a TensorFlow installed
# system-wide is reused, not downloaded again; Debian 12's own Python refuses pip installs outside
# a venv (PEP 668).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${TINYGEN_VENV:-.venv}"

need_apt() {  # install Debian packages, or say what to install when this user cannot
  if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
  elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "tinygen needs these Debian packages: $*" >&2
    echo "install them as root:  apt-get install --no-install-recommends $*  then run $0 again" >&2
    exit 1
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@"
}

APT_PACKAGES=(gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm clang llvm-19 chromium)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  need_apt "${missing[@]}"
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "creating the virtual environment $VENV"
  if ! python3 -m venv --system-site-packages "$VENV" 2>/dev/null; then
    rm -rf "$VENV"
    need_apt python3-venv  # Debian's python3 has no venv/ensurepip without it
    python3 -m venv --system-site-packages "$VENV"
  fi
fi
"$VENV/bin/python" -m pip install --upgrade pip
echo "installing tinygen with its test extra into $VENV (TensorFlow is large: pip shows its progress)"
"$VENV/bin/python" -m pip install -e '.[test]'
echo "tinygen is set up in $VENV: activate it with  . $VENV/bin/activate  (or call $VENV/bin/tinygen)"
