"""Train the bundled example: a small CNN on scikit-learn's 8x8 digits (nothing is downloaded).

Writes, next to this script in digits/:
  digits_cnn.keras        the trained float Keras model
  calibration.npy         200 training images for int8 calibration, float32 [200, 8, 8, 1]
  test_images.npy / test_labels.npy   the held-out split
  digits_cnn_int8.tflite  the same model quantized by TensorFlow's converter (int8 I/O)
  tinygen.toml            so that `tinygen build` in that folder needs no arguments

Run it again only to regenerate the committed files: `python examples/make_digits_example.py`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "digits"
SEED = 7
TOML = """\
# Read by `tinygen build`, `tinygen flash`, `tinygen test` and `tinygen bench` run in this folder.
[model]
path = "digits_cnn.keras"
calibration = "calibration.npy"

[build]
board = "nucleo_f746"
"""


def load_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images.astype(np.float32) / 16.0)[..., None]
    return train_test_split(images, digits.target, test_size=0.25, random_state=SEED, stratify=digits.target)


def build_model(batch_size: int | None):  # type: ignore[no-untyped-def]
    import keras

    keras.utils.set_random_seed(SEED)
    inputs = keras.Input(shape=(8, 8, 1), batch_size=batch_size, name="image")
    x = keras.layers.Conv2D(16, 3, padding="same", use_bias=False)(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    x = keras.layers.Conv2D(32, 1, activation="relu")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.1)(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="digits_cnn")


def main() -> None:
    import keras

    from tinygen.tfconvert import keras_to_int8_tflite

    x_train, x_test, y_train, y_test = load_split()
    # Train with minibatches, then copy the weights into the batch-1 model that gets deployed.
    trainer = build_model(batch_size=None)
    trainer.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    trainer.fit(x_train, y_train, batch_size=32, epochs=40, verbose=0)
    model = build_model(batch_size=1)
    model.set_weights(trainer.get_weights())
    accuracy = float(np.mean(np.argmax(trainer.predict(x_test, verbose=0), axis=1) == y_test))
    print(f"float test accuracy: {accuracy:.4f}")

    OUT.mkdir(exist_ok=True)
    model.save(OUT / "digits_cnn.keras")
    calibration = x_train[:200]
    np.save(OUT / "calibration.npy", calibration)
    np.save(OUT / "test_images.npy", x_test)
    np.save(OUT / "test_labels.npy", y_test.astype(np.int64))
    (OUT / "digits_cnn_int8.tflite").write_bytes(keras_to_int8_tflite(model, calibration))
    (OUT / "tinygen.toml").write_text(TOML)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
