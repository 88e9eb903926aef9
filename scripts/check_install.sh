#!/usr/bin/env bash
# The portable install, as a user without TensorFlow gets it: a fresh virtual environment (no system
# packages), `pip install <checkout>` without extras. TensorFlow must not be installed; convert, build
# and test must work on an int8 .tflite; a Keras command must name the extra it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
python3 -m venv "$WORK/venv with space"
VENV="$WORK/venv with space"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "$REPO"
if "$VENV/bin/python" -c "import tensorflow" 2>/dev/null; then
  echo "check_install: tensorflow was installed without the [keras] extra" >&2
  exit 1
fi
cd "$WORK"
MODEL="$REPO/examples/digits/digits_cnn_int8.tflite"
"$VENV/bin/tinygen" convert "$MODEL" -o "lib out" >/dev/null
"$VENV/bin/tinygen" build "$MODEL" --board nucleo_f746 -o "fw out" >/dev/null
"$VENV/bin/tinygen" test "$MODEL" --board mps2_an500 -n 2 | grep -q "PASS: every output is bit-exact"
set +e
"$VENV/bin/tinygen" convert "$REPO/examples/digits/digits_cnn.keras" \
  --calibration "$REPO/examples/digits/calibration.npy" -o keras-lib 2>err.txt
code=$?
set -e
if [ "$code" -ne 2 ] || ! grep -q "pip install 'tinygen\[keras\]'" err.txt || [ -e keras-lib ]; then
  echo "check_install: a Keras model without TensorFlow gave exit $code: $(cat err.txt)" >&2
  exit 1
fi
echo "check_install: the install without extras converts, builds and tests a .tflite (no TensorFlow)"
