"""``tinygen validate``: the model on the user's own samples (float model, tinygen's int8 reference and the
generated C on the host or in QEMU), one job per module:

* :mod:`.data`: reading the samples, labels and expected outputs, and quantizing them batch by batch;
* :mod:`.models`: the int8 graph (quantized as ``tinygen convert`` does) and the float side;
* :mod:`.runners`: the generated C on the host or in QEMU, and the first differing layer on a mismatch;
* :mod:`.metrics`: accuracy, confusion matrix, error figures, per-layer SQNR;
* :mod:`.core`: :func:`validate`, which runs everything in batches and returns the result dict;
* :mod:`.checks`: thresholds, JUnit cases and ``--save-outputs``;
* :mod:`.lines`: the printed summary.
"""

from __future__ import annotations

from tinygen.validation.core import validate

__all__ = ["validate"]
