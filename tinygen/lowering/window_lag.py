"""How far a convolution's output must trail its input for the two to share memory.

tg_conv_s8 and tg_conv_1x1_s8 compute output pixels in raster order (batch, row, column), in blocks
of consecutive pixels, and read all the input a block needs before writing the block's outputs (see
their headers). Output pixel ``t`` occupies bytes ``[t * C_out, (t + 1) * C_out)`` of the output; let
``m(t)`` be the lowest input byte that any output pixel ``>= t`` still reads. If the output starts
``lag`` bytes before the input, writing the pixels before ``t`` never touches an input byte still
needed when ``t * C_out <= lag + m(t)`` for every ``t``, so

    lag = max(0, max over t of (t * C_out - m(t)))

whatever the block size. A 3x3 "same" convolution with C_out == C_in gets ``(W + 1) * C_in``: about
one input row instead of a whole second activation buffer (TinyEngine's in-place idea, for conv).
"""

from __future__ import annotations

import numpy as np



def _first_valid(start: np.ndarray, taps: int, dilation: int, size: int) -> np.ndarray:
    """Per window start (may be negative), the lowest in-bounds coordinate the window reads, or
    ``size`` when every tap is out of bounds."""
    # smallest k with start + k * dilation >= 0
    ks = np.where(start >= 0, 0, (-start + dilation - 1) // dilation)
    first = start + ks * dilation
    return np.where((ks < taps) & (first < size), first, size)


def window_lag(in_shape: tuple[int, ...], out_shape: tuple[int, ...], kernel: tuple[int, int],
               stride: tuple[int, int], dilation: tuple[int, int], pad: tuple[int, int]) -> int:
    """The smallest lag (bytes, before rounding) letting a raster-order conv write over its NHWC input."""
    n, h, w, c_in = in_shape
    _, oh, ow, c_out = out_shape
    oy = np.arange(oh) * stride[0] - pad[0]
    ox = np.arange(ow) * stride[1] - pad[1]
    rows = _first_valid(oy, kernel[0], dilation[0], h)
    cols = _first_valid(ox, kernel[1], dilation[1], w)
    reads = (rows[:, None] < h) & (cols[None, :] < w)
    first = (rows[:, None] * w + cols[None, :]) * c_in  # lowest byte each pixel reads, within its image
    image = np.arange(n)[:, None, None] * (h * w * c_in)
    big = np.iinfo(np.int64).max
    lowest = np.where(reads[None], first[None].astype(np.int64) + image, big).reshape(-1)
    needed = np.minimum.accumulate(lowest[::-1])[::-1]  # m(t): lowest byte read by pixels >= t
    t = np.arange(1, lowest.size)
    if t.size == 0:
        return 0
    need = needed[1:]
    gaps = np.where(need < big, t * c_out - need, 0)
    return int(max(0, gaps.max()))


