"""tinygen's int8 post-training quantizer (TFLite's int8 scheme) for Keras models.

``extract`` turns a Keras model into a float32 IR graph, ``floatexec`` runs it in numpy,
``calibration`` loads and checks the calibration inputs, ``observers`` choose activation ranges,
``quantizer`` builds the int8 graph, ``pipeline`` chains them and ``report`` measures how closely the
int8 graph (run by :mod:`tinygen.reference`) tracks the float model.

Keras layers -> IR ops:

=========================  ==================================================================
Conv2D                     conv2d (OHWI weights); ZeroPadding2D before it that equals 'same'
                           padding is fused into it, other padding is a pad op
DepthwiseConv2D            depthwise_conv2d ([1, kh, kw, C*M], channel c*M + m)
SeparableConv2D            depthwise_conv2d (zero bias) + 1x1 conv2d
Conv1D                     reshape [1, 1, L, C] + conv2d (height 1) + reshape; 'causal' adds a pad op
Dense                      fully_connected ([out, in]; keep_num_dims on rank > 2 inputs)
BatchNormalization         folded into the conv/depthwise/dense before it when it is that op's only
                           consumer; otherwise a per-channel affine: a 1x1 depthwise_conv2d with
                           multiplier 1 (weights = gamma/sqrt(var+eps), bias = beta - mean*weights),
                           between reshapes to [1, 1, n, C] for non-4-D inputs
ReLU, ReLU6, activation=   fused into the conv/depthwise/dense/add before it when it is the only
                           consumer, else relu/relu6 ops; 'linear' vanishes; softmax -> softmax op
Dropout                    removed
MaxPooling2D/AveragePool   max_pool2d / avg_pool2d
GlobalAveragePooling2D     mean over axes (1, 2)
Flatten, Reshape           reshape
Add, Concatenate           add (chained for > 2 inputs), concatenation
=========================  ==================================================================
"""

from __future__ import annotations

from typing import Any

from tinygen.ir import Graph


def quantize(model: Any, calibration: Any, observer: str = "minmax") -> Graph:
    """In-memory Keras model -> int8 IR graph (see :func:`tinygen.api.quantize`)."""
    from tinygen.quantize.pipeline import quantize_keras

    return quantize_keras(model, calibration, observer).graph


__all__ = ["quantize"]
