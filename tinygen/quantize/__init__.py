"""tinygen's int8 post-training quantizer (TFLite's int8 scheme) for Keras models.

``extract`` turns a Keras model into a float32 IR graph, ``floatexec`` runs it in numpy,
``calibration`` loads and checks the calibration inputs, ``observers`` choose activation ranges,
``quantizer`` builds the int8 graph, ``pipeline`` chains them and ``report`` measures how closely the
int8 graph (run by :mod:`tinygen.reference`) tracks the float model. Before calibration the PTQ passes may
rewrite the float graph: ``equalize`` (cross-layer equalization of weight ranges) and ``smooth`` (of activation
ranges), both exact rescalings, and ``bias_correction``; ``ptq_select`` chooses among them by measurement
(``--ptq auto``, the default). ``precision`` and ``mixed`` put chosen layers in 16x8 (int16 activations, ``--int16``:
named layers, ``all``, or ``auto`` by measured SQNR per extra arena byte), with QUANTIZE ops at the boundaries.

Keras layers -> IR ops: each op module of :mod:`tinygen.ops` declares the Keras layers and activations
it converts (``OpDef.keras_layers``, ``keras_activations``; ``tinygen.quantize.layers.supported_layers()``
lists them). BatchNormalization is folded into the conv/depthwise/dense before it when it is that op's only
consumer, otherwise it becomes a 1x1 depthwise conv with multiplier 1; ReLU/ReLU6 fuse into the op before
them when they are its only consumer; Dropout and noise layers vanish (:mod:`tinygen.quantize.passes`). A
per-tensor affine first layer (Rescaling, a Normalization with one mean and variance) folds into the input's
quantization (:func:`tinygen.quantize.quantizer.plan_input_folds`). A Keras LSTM becomes TFLite's fused int8 LSTM
(:mod:`tinygen.ops.lstm`), a GRU the int8 ops of its unrolled steps (:mod:`tinygen.quantize.recurrent`).
"""

from __future__ import annotations

from typing import Any

from tinygen.ir import Graph


def quantize(model: Any, calibration: Any, observer: str = "minmax") -> Graph:
    """In-memory Keras model -> int8 IR graph (see :func:`tinygen.api.quantize`)."""
    from tinygen.quantize.pipeline import quantize_keras

    return quantize_keras(model, calibration, observer).graph


__all__ = ["quantize"]
