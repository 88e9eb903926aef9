"""tg_depthwise_s8 (the general depthwise kernel: any kernel size, stride, dilation and depth multiplier) on the
host, called through its lowering: bit-exact with tinygen.reference on the portable and the (emulated) DSP path,
both roundings, every requantization mode, in exactly sized heap buffers under ASan/UBSan (the harness of
tests/test_kernels_depthwise.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from test_kernels_depthwise import dw_graph, run_kernel
from tinygen import reference

#: (n, h, w, c, kernel, stride, dilation, padding, activation, multiplier, output scale factor: 16 gives right
#: shifts, the fast requantization; 1 mostly small shifts, the general one)
CONFIGS = [
    (1, 1, 40, 24, (1, 5), (1, 1), (1, 1), "same", "relu6", 1, 16.0),  # 1-D (HeartKit-like)
    (1, 30, 1, 12, (9, 1), (2, 2), (1, 1), "same", "relu", 1, 16.0),  # 1-D along the height, stride 2
    (2, 9, 8, 20, (5, 5), (1, 1), (1, 1), "same", "none", 1, 16.0),  # 5x5, mostly padding at the edges
    (1, 5, 5, 16, (7, 7), (1, 1), (1, 1), "same", "relu6", 1, 16.0),  # the window larger than the image
    (1, 11, 10, 7, (5, 3), (2, 1), (1, 1), "valid", "relu_n1_to_1", 1, 16.0),  # channel tail (7 = 4 + 3)
    (1, 7, 7, 16, (5, 5), (1, 1), (1, 1), "same", "relu", 2, 16.0),  # multiplier 2 (3x3 ones: tg_depthwise_mult_s8)
    (1, 6, 7, 5, (3, 2), (2, 1), (1, 1), "same", "none", 3, 1.0),  # multiplier 3, output tail
    (1, 8, 8, 3, (3, 3), (1, 1), (2, 2), "same", "relu6", 4, 16.0),  # dilated 3x3, multiplier 4
    (1, 9, 9, 6, (3, 3), (1, 1), (2, 3), "valid", "none", 1, 16.0),  # dilated 3x3, multiplier 1
    (1, 6, 6, 8, (5, 5), (1, 1), (1, 1), "same", "none", 1, 1e-4),  # tiny output scale: the general mode
    (1, 6, 6, 8, (2, 2), (1, 1), (1, 1), "same", "relu", 2, 1e3),  # huge output scale: large right shifts
]


#: the configurations with a 1-D window and lines long enough for tg_depthwise_1d_s8 (tests/test_depthwise_1d.py),
#: which the lowering picks for them; checked here the same way
ONE_D = (0, 1)


@pytest.mark.parametrize("dsp", [False, True])
@pytest.mark.parametrize("index", range(len(CONFIGS)))
def test_depthwise_general_equals_reference(index: int, dsp: bool, tmp_path: Path) -> None:
    n, h, w, c, k, stride, dilation, padding, act, mult, scale = CONFIGS[index]
    graph = dw_graph(200 + index, n, h, w, c, stride, padding, act, mult=mult, k=k, out_scale=scale,
                     dilation=dilation)
    x = np.random.default_rng(index).integers(-128, 128, (n, h, w, c)).astype(np.int8)
    for rounding in ("double", "single"):
        want = reference.run(graph, x, rounding=rounding)["y"]
        got, call, ctx = run_kernel(graph, x, tmp_path, in_place=False, dsp=dsp, sanitize=True, rounding=rounding)
        assert call.kernel == ("tg_depthwise_1d_s8" if index in ONE_D else "tg_depthwise_s8")
        bad = np.flatnonzero(got != want)
        assert bad.size == 0, f"{rounding}: {bad.size} of {want.size} differ, first at {bad[0]}"
        assert ctx.weight_bytes == k[0] * k[1] * c * mult  # TFLite's int8 bytes


def test_depthwise_general_configs_cover_every_requantization_mode() -> None:
    """The configurations above that run tg_depthwise_s8 reach the general, fast and fast-full-range
    requantization (TG_RQ_*)."""
    from test_kernels_depthwise import _Ctx
    from tinygen.ops import depthwise_conv2d

    modes = set()
    for index, (n, h, w, c, k, stride, dilation, padding, act, mult, scale) in enumerate(CONFIGS):
        graph = dw_graph(200 + index, n, h, w, c, stride, padding, act, mult=mult, k=k, out_scale=scale,
                         dilation=dilation)
        call = depthwise_conv2d.lower(_Ctx(graph, "double", False), graph.ops[0])
        if call.kernel == "tg_depthwise_s8":
            modes.add(call.args[11])
    assert modes == {"0", "1", "2"}
