from __future__ import annotations

import numpy as np
import pytest

from tinygen.errors import TinygenError
from tinygen.ir import Graph, Op, Quantization, Tensor, conv_output_size, same_padding


def _q(scale: float = 0.1, zp: int = 0) -> Quantization:
    return Quantization(np.array([scale]), np.array([zp]))


def _conv_graph(out_shape: tuple[int, ...]) -> Graph:
    g = Graph("g")
    g.add_tensor(Tensor("x", (1, 8, 8, 3), "int8", _q()))
    g.add_tensor(Tensor("w", (4, 3, 3, 3), "int8", Quantization(np.ones(4), np.zeros(4), axis=0),
                        data=np.ones((4, 3, 3, 3), np.int8)))
    g.add_tensor(Tensor("y", out_shape, "int8", _q()))
    g.add_op(Op("conv2d", "c", ["x", "w"], ["y"],
                {"stride": (2, 2), "dilation": (1, 1), "padding": "same", "activation": "relu"}))
    g.inputs, g.outputs = ["x"], ["y"]
    return g


def test_same_padding_matches_tflite() -> None:
    assert same_padding(49, 10, 2) == (25, 4, 5)
    assert same_padding(10, 4, 2) == (5, 1, 1)
    assert same_padding(5, 3, 1, dilation=2) == (5, 2, 2)
    assert conv_output_size(32, 3, 1, 1, "valid") == (30, 0)


def test_valid_graph_passes_and_bad_shape_is_named() -> None:
    _conv_graph((1, 4, 4, 4)).validate()
    with pytest.raises(TinygenError, match=r"op 0 \(conv2d 'c'\).*expected \(1, 4, 4, 4\)"):
        _conv_graph((1, 8, 8, 4)).validate()


def test_use_before_produce_is_rejected() -> None:
    g = _conv_graph((1, 4, 4, 4))
    g.add_tensor(Tensor("z", (1, 4, 4, 4), "int8", _q()))
    g.ops.insert(0, Op("relu", "r", ["y"], ["z"], {}))
    with pytest.raises(TinygenError, match="used before it is produced"):
        g.validate()


def test_per_channel_needs_axis() -> None:
    with pytest.raises(ValueError):
        Quantization(np.ones(3), np.zeros(3))
