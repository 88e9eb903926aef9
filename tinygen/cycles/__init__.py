"""Estimated cycles: block profiles from QEMU, per-block cycles from a per-core timing model.

``blocks`` profiles firmware (QEMU's counting plugin with its block profile on,
``tinygen.emulator.run_firmware(blocks=True)``), ``disasm`` reads each block's instructions
from the ELF, ``tables`` (Cortex-M0+/M3/M4/M33, from the technical reference manuals) and ``mca``
(Cortex-M7/M55, LLVM's scheduling models through llvm-mca) give cycles per block, and ``estimate``
combines them per layer and per inference. Every figure is an estimate, never a measurement.
"""
