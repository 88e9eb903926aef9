"""tinygen.numerics: TFLite's integer arithmetic, pinned on its corner cases and cross-checked against
a plain-Python transcription of the C++ and against the C helpers in templates/kernels/tg_common.h."""

from __future__ import annotations

import ctypes
import hashlib
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from filelock import FileLock
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen import numerics as nm
from tinygen.errors import TinygenError

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(__file__).resolve().parent / ".cache" / "numerics"
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
int32s = st.integers(INT32_MIN, INT32_MAX)


# --------------------------------------------------------------------------- scalar transcription


def _wrap(v: int) -> int:
    return ((v + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _srdhm(a: int, b: int) -> int:
    if a == INT32_MIN and b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    total = ab + ((1 << 30) if ab >= 0 else 1 - (1 << 30))
    q = abs(total) >> 31  # C++ int64 division truncates toward zero
    return q if total >= 0 else -q


def _rdbp(x: int, e: int) -> int:
    mask = (1 << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> e) + (1 if remainder > threshold else 0)


def _mbqm(x: int, m: int, s: int, rounding: str) -> int:
    if rounding == "single":
        total = 31 - s
        return _wrap((x * m + (1 << (total - 1))) >> total)
    left, right = max(s, 0), max(-s, 0)
    return _rdbp(_srdhm(_wrap(x << left), m), right)


# --------------------------------------------------------------------------- quantize_multiplier


def test_quantize_multiplier_powers_of_two_and_zero() -> None:
    assert nm.quantize_multiplier(0.0) == (0, 0)
    assert nm.quantize_multiplier(0.5) == (1 << 30, 0)
    assert nm.quantize_multiplier(1.0) == (1 << 30, 1)
    assert nm.quantize_multiplier(0.25) == (1 << 30, -1)
    assert nm.quantize_multiplier(3.0) == (3 << 29, 2)


def test_quantize_multiplier_rounds_half_away_from_zero() -> None:
    # significand 0.5 + 2^-32 is exactly half way between two Q0.31 values: rounds up
    assert nm.quantize_multiplier(0.5 + 2.0**-32) == ((1 << 30) + 1, 0)
    assert nm.quantize_multiplier(0.5 + 2.0**-33) == (1 << 30, 0)  # below the tie: rounds down


def test_quantize_multiplier_significand_rounding_to_2_pow_31() -> None:
    # 1 - 2^-33 has significand just below 1: it rounds to 2^31, which is halved with shift + 1
    assert nm.quantize_multiplier(1.0 - 2.0**-33) == (1 << 30, 1)
    assert nm.quantize_multiplier(0.5 - 2.0**-34) == (1 << 30, 0)


def test_quantize_multiplier_shift_below_minus_31_flushes_to_zero() -> None:
    assert nm.quantize_multiplier(2.0**-32) == (1 << 30, -31)  # the smallest kept value
    assert nm.quantize_multiplier(2.0**-33) == (0, 0)
    assert nm.quantize_multiplier(1e-30) == (0, 0)


def test_quantize_multiplier_shift_above_30_saturates_only_with_single_rounding() -> None:
    assert nm.quantize_multiplier(2.0**31) == (1 << 30, 32)
    assert nm.quantize_multiplier(2.0**31, "single") == (INT32_MAX, 30)
    assert nm.quantize_multiplier(2.0**29, "single") == (1 << 30, 30)  # shift exactly 30 is kept
    assert nm.quantize_multiplier(1e12, "single") == (INT32_MAX, 30)


@given(st.floats(min_value=2.0**-31, max_value=2.0**30, allow_nan=False))
@settings(max_examples=300, deadline=None)
def test_quantize_multiplier_represents_the_real(real: float) -> None:
    mult, shift = nm.quantize_multiplier(real)
    assert (1 << 30) <= mult <= INT32_MAX
    approx = mult * 2.0 ** (shift - 31)
    assert abs(approx - real) <= real * 2.0**-31
    # round-to-nearest: the neighbouring significands are farther away
    for other in (mult - 1, mult + 1):
        assert abs(other * 2.0 ** (shift - 31) - real) >= abs(approx - real)


# --------------------------------------------------------------------------- fixed point core


def test_srdhm_overflow_case() -> None:
    assert int(nm.saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MIN)) == INT32_MAX
    assert int(nm.saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MAX)) == -INT32_MAX
    assert int(nm.saturating_rounding_doubling_high_mul(INT32_MAX, INT32_MAX)) == INT32_MAX - 1


def test_srdhm_rounding_is_asymmetric_like_gemmlowp() -> None:
    # +0.5 rounds up, -0.5 rounds toward zero (the nudge is 1 - 2^30 for negative products)
    assert int(nm.saturating_rounding_doubling_high_mul(1, 1 << 30)) == 1
    assert int(nm.saturating_rounding_doubling_high_mul(-1, 1 << 30)) == 0
    assert int(nm.saturating_rounding_doubling_high_mul(-3, 1 << 30)) == -1
    assert int(nm.saturating_rounding_doubling_high_mul(3, 1 << 30)) == 2


def test_rounding_divide_by_pot_ties_away_from_zero() -> None:
    x = np.array([5, -5, 3, -3, 4, -4, 7, -7, 0, -1, 1])
    assert nm.rounding_divide_by_pot(x, 1).tolist() == [3, -3, 2, -2, 2, -2, 4, -4, 0, -1, 1]
    assert nm.rounding_divide_by_pot(np.array([6, -6, 5, -5]), 2).tolist() == [2, -2, 1, -1]
    assert int(nm.rounding_divide_by_pot(INT32_MIN, 31)) == -1
    assert int(nm.rounding_divide_by_pot(INT32_MAX, 31)) == 1
    assert nm.rounding_divide_by_pot(np.array([7, 7, 7]), np.array([0, 1, 2])).tolist() == [7, 4, 2]


def test_multiply_by_quantized_multiplier_known_values() -> None:
    half = 1 << 30  # 0.5 in Q0.31
    x = np.array([100, -100, 3, -3, 2, -2])
    assert nm.multiply_by_quantized_multiplier(x, half, -1).tolist() == [25, -25, 1, -1, 1, -1]
    assert nm.multiply_by_quantized_multiplier(x, half, 1).tolist() == [100, -100, 3, -3, 2, -2]
    # -0.5: double rounding's high multiply rounds toward zero; single rounding adds half then floors
    assert nm.multiply_by_quantized_multiplier(np.array([-1]), half, 0).tolist() == [0]
    assert nm.multiply_by_quantized_multiplier(np.array([-1]), half, 0, "single").tolist() == [0]
    assert nm.multiply_by_quantized_multiplier(np.array([1]), half, 0, "single").tolist() == [1]
    # double rounding rounds twice: 5 * 0.375 = 1.875 -> 2, then / 4 = 0.5 -> 1; single: 0.47 -> 0
    assert nm.multiply_by_quantized_multiplier(np.array([5]), 3 << 28, -2).tolist() == [1]
    assert nm.multiply_by_quantized_multiplier(np.array([5]), 3 << 28, -2, "single").tolist() == [0]


def test_multiply_by_quantized_multiplier_int32_min_squared() -> None:
    # x = INT32_MIN, multiplier INT32_MIN-like overflow path: srdhm saturates, then shifts
    assert int(nm.multiply_by_quantized_multiplier(INT32_MIN, INT32_MIN, 0)) == INT32_MAX
    # left shift of a large value wraps like TFLite's int32 `x * (1 << s)`
    assert int(nm.multiply_by_quantized_multiplier(1 << 30, 1 << 30, 1)) == _mbqm(1 << 30, 1 << 30, 1, "double")
    assert int(nm.multiply_by_quantized_multiplier(1 << 30, 1 << 30, 1)) == INT32_MIN // 2


def test_multiply_by_quantized_multiplier_per_channel_broadcast() -> None:
    acc = np.arange(-6, 6).reshape(3, 4) * 1000
    mult = np.array([1 << 30, 3 << 28, 1 << 30, 1717986918])
    shift = np.array([-1, 0, -3, 2])
    got = nm.multiply_by_quantized_multiplier(acc, mult, shift)
    want = [[_mbqm(int(acc[i, j]), int(mult[j]), int(shift[j]), "double") for j in range(4)] for i in range(3)]
    assert got.tolist() == want


@given(int32s, st.integers(1 << 30, INT32_MAX), st.integers(-31, 30), st.sampled_from(["double", "single"]))
@settings(max_examples=400, deadline=None)
def test_multiply_by_quantized_multiplier_matches_scalar_cpp(x: int, m: int, s: int, rounding: str) -> None:
    got = int(nm.multiply_by_quantized_multiplier(np.array([x]), m, s, rounding)[0])  # type: ignore[arg-type]
    assert got == _mbqm(x, m, s, rounding)


@given(int32s, int32s)
@settings(max_examples=300, deadline=None)
def test_srdhm_matches_scalar_cpp(a: int, b: int) -> None:
    assert int(nm.saturating_rounding_doubling_high_mul(a, b)) == _srdhm(a, b)


def test_unknown_rounding_is_a_user_error() -> None:
    with pytest.raises(TinygenError, match="rounding"):
        nm.check_rounding("triple")


# --------------------------------------------------------------------------- against tg_common.h


def _tg_common_lib(single: bool) -> ctypes.CDLL:
    """tg_common.h compiled into a tiny shared library (cached by the header's hash)."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        pytest.skip("no C compiler on this machine")
    header = REPO / "templates" / "kernels" / "tg_common.h"
    source = (
        '#include "tg_common.h"\n'
        "void requant(const int32_t *x, const int32_t *m, const int32_t *s, int32_t *out, int n) {\n"
        "  for (int i = 0; i < n; ++i) out[i] = tg_requantize(x[i], m[i], s[i]);\n}\n"
        "void srdhm(const int32_t *a, const int32_t *b, int32_t *out, int n) {\n"
        "  for (int i = 0; i < n; ++i) out[i] = tg_doubling_high_mult(a[i], b[i]);\n}\n"
    )
    key = hashlib.sha256(header.read_bytes() + source.encode() + bytes([single])).hexdigest()[:16]
    CACHE.mkdir(parents=True, exist_ok=True)
    lib = CACHE / f"tg_common_{key}.so"
    with FileLock(str(CACHE / "tg_common.lock")):
        if not lib.exists():
            src = CACHE / f"tg_common_{key}.c"
            src.write_text(source)
            tmp = lib.with_suffix(".tmp")
            subprocess.run(
                [compiler, "-std=c99", "-O1", "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror", "-pedantic",
                 f"-DTG_SINGLE_ROUNDING={int(single)}", f"-I{header.parent}", str(src), "-o", str(tmp)],
                check=True, capture_output=True,
            )
            tmp.rename(lib)
    return ctypes.CDLL(str(lib))


def _ptr(a: np.ndarray) -> ctypes.c_void_p:
    return a.ctypes.data_as(ctypes.c_void_p)


@pytest.mark.parametrize("rounding", ["double", "single"])
def test_multiply_by_quantized_multiplier_equals_tg_common_h(rounding: str) -> None:
    lib = _tg_common_lib(rounding == "single")
    rng = np.random.default_rng(7)
    n = 200_000
    x = rng.integers(INT32_MIN, INT32_MAX, n, endpoint=True, dtype=np.int64)
    x[:1000] = rng.integers(-300_000, 300_000, 1000)  # typical accumulators
    x[1000:1010] = [INT32_MIN, INT32_MAX, 0, -1, 1, INT32_MIN + 1, 1 << 30, -(1 << 30), 12345, -12345]
    m = rng.integers(1 << 30, INT32_MAX, n, endpoint=True, dtype=np.int64)
    s = rng.integers(-31, 31, n, dtype=np.int64)
    if rounding == "double":
        s[:5000] = rng.integers(0, 8, 5000)  # exercise the wrapping left shift
    x32, m32, s32 = (a.astype(np.int32) for a in (x, m, s))
    out = np.zeros(n, dtype=np.int32)
    lib.requant(_ptr(x32), _ptr(m32), _ptr(s32), _ptr(out), ctypes.c_int(n))
    got = nm.multiply_by_quantized_multiplier(x, m, s, rounding)  # type: ignore[arg-type]
    assert np.array_equal(got, out.astype(np.int64))


def test_srdhm_equals_tg_common_h() -> None:
    lib = _tg_common_lib(False)
    rng = np.random.default_rng(8)
    a = rng.integers(INT32_MIN, INT32_MAX, 100_000, endpoint=True).astype(np.int32)
    b = rng.integers(INT32_MIN, INT32_MAX, 100_000, endpoint=True).astype(np.int32)
    a[:3], b[:3] = [INT32_MIN, INT32_MIN, -1], [INT32_MIN, INT32_MAX, 1 << 30]
    out = np.zeros_like(a)
    lib.srdhm(_ptr(a), _ptr(b), _ptr(out), ctypes.c_int(a.size))
    assert np.array_equal(nm.saturating_rounding_doubling_high_mul(a, b), out.astype(np.int64))


# --------------------------------------------------------------------------- activation range


def test_activation_range_common_cases() -> None:
    assert nm.activation_range("none", 0.1, 3) == (-128, 127)
    assert nm.activation_range("relu", 0.1, -10) == (-10, 127)
    assert nm.activation_range("relu", 0.1, -200) == (-128, 127)  # clamped to the type
    assert nm.activation_range("relu6", 0.05, -128) == (-128, -8)  # 6 / 0.05 = 120
    assert nm.activation_range("relu6", 0.01, -128) == (-128, 127)
    assert nm.activation_range("relu_n1_to_1", 0.02, 0) == (-50, 50)


def test_activation_range_divides_in_float32() -> None:
    # 6 / s is 423.4999979 in double but exactly 423.5 in float32, which roundf takes to 424
    s = float(np.array([1013456751], dtype=np.uint32).view(np.float32)[0])
    assert 6.0 / s < 423.5
    assert nm.activation_range("relu6", s, 0, -32768, 32767) == (0, 424)


def test_activation_range_tiny_and_huge_scales() -> None:
    assert nm.activation_range("relu6", 1e-6, 5) == (5, 127)
    assert nm.activation_range("relu6", 1e6, 5) == (5, 5)  # 6 / 1e6 rounds to 0
    assert nm.activation_range("relu_n1_to_1", 1e6, 0) == (0, 0)


def test_round_half_away_from_zero() -> None:
    x = np.array([0.5, -0.5, 1.5, -1.5, 2.5, 0.49999999999999994, -0.49999999999999994, 2.0**52 + 1])
    assert nm.round_half_away(x).tolist() == [1, -1, 2, -2, 3, 0, -0, 2.0**52 + 1]


# --------------------------------------------------------------------------- softmax pieces


def test_exp_on_negative_values_tracks_exp() -> None:
    # Q5.26 inputs from 0 down to -31.9, against the real exp, and exactly 1.0 at 0
    x = -np.arange(0, 32 * (1 << 26), (1 << 26) // 37, dtype=np.int64)
    got = nm.exp_on_negative_values(x, 5) / 2.0**31
    want = np.exp(x / 2.0**26)
    assert int(nm.exp_on_negative_values(np.array([0]), 5)[0]) == INT32_MAX
    assert np.max(np.abs(got - want)) < 2e-7


def test_one_over_one_plus_x_tracks_division() -> None:
    x = np.arange(0, INT32_MAX, INT32_MAX // 1001, dtype=np.int64)
    got = nm.one_over_one_plus_x_for_x_in_0_1(x) / 2.0**31
    assert np.max(np.abs(got - 1.0 / (1.0 + x / 2.0**31))) < 2e-8


def test_get_reciprocal_num_bits() -> None:
    # sum of exps 1.0 in Q12.19: reciprocal 1/1 = one over unit 0 bits... 1.0 = 2^19 -> clz = 12
    scale, bits = nm.get_reciprocal(np.array([1 << 19]), 12)
    assert int(bits[0]) == 0 and int(scale[0]) == INT32_MAX
    scale, bits = nm.get_reciprocal(np.array([3 << 19]), 12)  # 3.0 = 1.5 * 2^1
    assert int(bits[0]) == 1 and abs(int(scale[0]) / 2.0**31 - 1 / 1.5) < 1e-8


def test_softmax_input_params() -> None:
    # beta * scale * 2^26 = 0.1 * 2^26 -> multiplier 0.8 * 2^31, left shift 23; radius 31 * 2^26 / 2^23 = 248
    assert nm.softmax_input_params(1.0, 0.1)[1:] == (23, -248)
    mult, shift, diff_min = nm.softmax_input_params(1.0, 0.1)
    assert (mult, shift) == nm.quantize_multiplier(float(np.float32(0.1)) * 2.0**26)
    assert diff_min == -math.floor(31 * 2.0**26 / 2.0**23)
    # a huge input scale is capped at 2^31 - 1 (double) / 2^30 - 1 (single)
    assert nm.softmax_input_params(1.0, 1e6)[:2] == nm.quantize_multiplier(2.0**31 - 1)
    assert nm.softmax_input_params(1.0, 1e6, "single")[:2] == nm.quantize_multiplier(2.0**30 - 1, "single")


def test_softmax_int8_values() -> None:
    mult, shift, diff_min = nm.softmax_input_params(1.0, 0.1)
    x = np.array([[10, 20, 30, -128], [5, 5, 5, 5], [127, -128, -128, -128]])
    out = nm.softmax_int8(x, mult, shift, diff_min)
    p = np.exp((x - x.max(axis=1, keepdims=True)) * np.float64(np.float32(0.1)))
    p /= p.sum(axis=1, keepdims=True)
    assert np.max(np.abs((out.astype(int) + 128) / 256.0 - p)) <= 1 / 256
    assert out[1].tolist() == [-64, -64, -64, -64]  # 1/4 exactly
    assert out[2].tolist() == [127, -128, -128, -128]  # saturates at 255/256; far-below entries give -128


def test_affine_quantize_is_tflite_quantize_at_the_half_boundary() -> None:
    """The one float -> int8 quantization (QUANTIZE's reference, the calibration report, validate, tinygen test's
    calibration vectors): round half away from zero on the exact float32 quotient. 0.49999997 + 0.5 rounds to 1.0
    in float32, so floor(|x| + 0.5) (what the report once did) gives 1 where TFLite gives 0; and ties go away
    from zero (np.round, what tinygen test once did, gives 2 for 2.5)."""
    from tinygen.quantize.report import quantize_input
    from tinygen.ir import Graph, Quantization, Tensor

    below_half = np.float32(np.nextafter(np.float32(0.5), np.float32(0)))
    x = np.array([below_half, -below_half, 0.5, -0.5, 2.5, -2.5, 1e30, -1e30, np.nan], np.float32)
    want = [0, 0, 1, -1, 3, -3]
    got = nm.affine_quantize(x, 1.0, 0)
    assert got[:6].tolist() == want
    # beyond int32: TFLite Micro's x86 result (INT32_MIN plus the zero point, wrapped, clamped)
    assert got[6:].tolist() == [-128, -128, -128]
    assert nm.affine_quantize(x[6:7], 1.0, -5).tolist() == [127]
    g = Graph("g")
    g.add_tensor(Tensor("x", (9,), "int8", Quantization(np.array([1.0], np.float32), np.array([0]))))
    g.inputs = ["x"]
    assert quantize_input(g, x).tolist()[:6] == want
