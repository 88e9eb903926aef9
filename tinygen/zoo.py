"""The four MLPerf Tiny reference architectures in Keras 3 (DESIGN.md, "Benchmark models").

Random weights from fixed seeds (the benchmarks measure speed and memory, not accuracy), ``batch_size=1``
inputs (so Flatten stays a RESHAPE after conversion), and BatchNorm statistics set to random non-trivial
values so BatchNorm folding is exercised. ``representative_data(name)`` gives fixed-seed calibration
inputs for each model. Keras is imported lazily (importing TensorFlow takes seconds).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

#: parameter counts and MACs DESIGN.md states for each architecture (approximate)
EXPECTED: dict[str, tuple[int, int]] = {
    "kws_dscnn": (24_900, 2_660_000),
    "vww_mobilenet": (222_000, 7_490_000),
    "ic_resnet8": (78_700, 12_500_000),
    "ad_autoencoder": (270_000, 260_000),
}

INPUT_SHAPES: dict[str, tuple[int, ...]] = {
    "kws_dscnn": (49, 10, 1),
    "vww_mobilenet": (96, 96, 3),
    "ic_resnet8": (32, 32, 3),
    "ad_autoencoder": (640,),
}


def _keras() -> Any:
    import keras

    return keras


def _randomize_batchnorm(model: Any, seed: int) -> Any:
    """Give every BatchNormalization layer random gamma/beta/mean/variance (fixed seed)."""
    keras = _keras()
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights(
                [
                    rng.uniform(0.6, 1.4, n).astype(np.float32),  # gamma
                    rng.normal(0.0, 0.1, n).astype(np.float32),  # beta
                    rng.normal(0.0, 0.1, n).astype(np.float32),  # moving mean
                    rng.uniform(0.5, 1.5, n).astype(np.float32),  # moving variance
                ]
            )
    return model


def _bn_relu(x: Any) -> Any:
    keras = _keras()
    x = keras.layers.BatchNormalization()(x)
    return keras.layers.ReLU()(x)


def kws_dscnn(seed: int = 1) -> Any:
    """Keyword spotting DS-CNN: 49x10x1 MFCC features -> 12 classes."""
    keras = _keras()
    keras.utils.set_random_seed(seed)
    L = keras.layers
    inp = keras.Input(shape=INPUT_SHAPES["kws_dscnn"], batch_size=1, name="input")
    x = L.Conv2D(64, (10, 4), strides=(2, 2), padding="same")(inp)
    x = _bn_relu(x)
    for _ in range(4):
        x = L.DepthwiseConv2D((3, 3), padding="same")(x)
        x = _bn_relu(x)
        x = L.Conv2D(64, (1, 1), padding="same")(x)
        x = _bn_relu(x)
    x = L.AveragePooling2D(pool_size=(24, 5))(x)
    x = L.Flatten()(x)
    out = L.Dense(12, activation="softmax")(x)
    return _randomize_batchnorm(keras.Model(inp, out, name="kws_dscnn"), seed)


def vww_mobilenet(seed: int = 2) -> Any:
    """Visual wake words MobileNetV1 alpha=0.25: 96x96x3 -> 2 classes."""
    keras = _keras()
    keras.utils.set_random_seed(seed)
    L = keras.layers
    inp = keras.Input(shape=INPUT_SHAPES["vww_mobilenet"], batch_size=1, name="input")
    x = L.Conv2D(8, (3, 3), strides=(2, 2), padding="same")(inp)
    x = _bn_relu(x)
    blocks = [(1, 16), (2, 32), (1, 32), (2, 64), (1, 64), (2, 128)] + [(1, 128)] * 5 + [(2, 256), (1, 256)]
    for stride, filters in blocks:
        x = L.DepthwiseConv2D((3, 3), strides=(stride, stride), padding="same")(x)
        x = _bn_relu(x)
        x = L.Conv2D(filters, (1, 1), padding="same")(x)
        x = _bn_relu(x)
    x = L.AveragePooling2D(pool_size=(3, 3))(x)
    x = L.Flatten()(x)
    out = L.Dense(2, activation="softmax")(x)
    return _randomize_batchnorm(keras.Model(inp, out, name="vww_mobilenet"), seed)


def ic_resnet8(seed: int = 3) -> Any:
    """Image classification ResNet-8: 32x32x3 CIFAR-10 image -> 10 classes."""
    keras = _keras()
    keras.utils.set_random_seed(seed)
    L = keras.layers
    inp = keras.Input(shape=INPUT_SHAPES["ic_resnet8"], batch_size=1, name="input")
    x = L.Conv2D(16, (3, 3), padding="same")(inp)
    x = _bn_relu(x)
    for filters, stride in ((16, 1), (32, 2), (64, 2)):
        y = L.Conv2D(filters, (3, 3), strides=(stride, stride), padding="same")(x)
        y = _bn_relu(y)
        y = L.Conv2D(filters, (3, 3), padding="same")(y)
        y = L.BatchNormalization()(y)
        if stride != 1:
            # projection on the skip path where the shape changes
            x = L.Conv2D(filters, (1, 1), strides=(stride, stride), padding="same")(x)
        x = L.Add()([x, y])
        x = L.ReLU()(x)
    x = L.AveragePooling2D(pool_size=(8, 8))(x)
    x = L.Flatten()(x)
    out = L.Dense(10, activation="softmax")(x)
    return _randomize_batchnorm(keras.Model(inp, out, name="ic_resnet8"), seed)


def ad_autoencoder(seed: int = 4) -> Any:
    """Anomaly detection fully connected autoencoder: 640 -> 640."""
    keras = _keras()
    keras.utils.set_random_seed(seed)
    L = keras.layers
    inp = keras.Input(shape=INPUT_SHAPES["ad_autoencoder"], batch_size=1, name="input")
    x = inp
    for units in [128] * 4 + [8] + [128] * 4:
        x = L.Dense(units)(x)
        x = _bn_relu(x)
    out = L.Dense(640)(x)
    return _randomize_batchnorm(keras.Model(inp, out, name="ad_autoencoder"), seed)


MODELS: dict[str, Callable[..., Any]] = {
    "kws_dscnn": kws_dscnn,
    "vww_mobilenet": vww_mobilenet,
    "ic_resnet8": ic_resnet8,
    "ad_autoencoder": ad_autoencoder,
}


def representative_data(name: str, count: int = 32, seed: int = 0) -> np.ndarray:
    """``count`` fixed-seed float32 calibration inputs for zoo model ``name``, shape [count, *input]."""
    if name not in INPUT_SHAPES:
        raise KeyError(f"unknown zoo model {name!r}; choose one of {sorted(INPUT_SHAPES)}")
    rng = np.random.default_rng(seed)
    shape = (count, *INPUT_SHAPES[name])
    if name == "vww_mobilenet" or name == "ic_resnet8":
        # images scaled to [0, 1]
        return rng.uniform(0.0, 1.0, shape).astype(np.float32)
    return rng.normal(0.0, 1.0, shape).astype(np.float32)


def count_macs(model: Any) -> int:
    """MACs of Conv2D / DepthwiseConv2D / Dense layers of a built Keras model (batch 1)."""
    keras = _keras()
    total = 0
    for layer in model.layers:
        out = layer.output.shape
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            kh, kw = layer.kernel_size
            total += int(np.prod(out[1:])) * kh * kw
        elif isinstance(layer, keras.layers.Conv2D):
            kh, kw = layer.kernel_size
            total += int(np.prod(out[1:])) * kh * kw * int(layer.input.shape[-1])
        elif isinstance(layer, keras.layers.Dense):
            total += int(np.prod(out[1:])) * int(layer.input.shape[-1])
    return total


if __name__ == "__main__":  # python -m tinygen.zoo: compare with DESIGN.md's figures
    for model_name, build in MODELS.items():
        built = build()
        params, macs = built.count_params(), count_macs(built)
        want_params, want_macs = EXPECTED[model_name]
        print(f"{model_name:15s} params {params:>8,} (DESIGN {want_params:>8,})  MACs {macs:>11,} (DESIGN {want_macs:>11,})")
