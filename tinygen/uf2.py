"""UF2 files (Microsoft's USB flashing format, github.com/microsoft/uf2) and the drive a UF2
bootloader mounts (the RP2040's ``RPI-RP2``).

A UF2 file is a sequence of 512-byte blocks, each self-describing: eight little-endian 32-bit
words (two start magics, flags, target address, payload size, block number, block count, family
id), 476 bytes of data of which the first ``payload size`` count, and an end magic. The RP2040
boot ROM takes 256-byte payloads at 256-byte aligned flash addresses with the family id
``0xe48bff56`` (RP2040 datasheet 2.8.4 "UF2 format details").

``python -m tinygen.uf2 firmware.bin firmware.uf2 --base 0x10000000 --family 0xe48bff56`` is the
builder's conversion step (it runs in PlatformIO's Python, which is tinygen's).
"""

from __future__ import annotations

import argparse
import os
import struct
from pathlib import Path

from tinygen.errors import TinygenError

MAGIC_START0 = 0x0A324655  # "UF2\n"
MAGIC_START1 = 0x9E5D5157
MAGIC_END = 0x0AB16F30
#: flags bit 13: the word after the block count is a family id (not a file size)
FLAG_FAMILY_ID = 0x00002000
BLOCK_SIZE = 512
DATA_SIZE = 476
#: the payload per block the RP2040 boot ROM accepts (one flash page)
PAYLOAD_SIZE = 256
RP2040_FAMILY = 0xE48BFF56
#: what a UF2 bootloader's drive holds (the UF2 spec: every UF2 drive has it)
INFO_FILE = "INFO_UF2.TXT"
#: the environment variable naming the drive where the OS mounts it somewhere tinygen does not look
DRIVE_ENV = "TINYGEN_UF2_DRIVE"


def bin_to_uf2(data: bytes, base: int, family: int, payload: int = PAYLOAD_SIZE) -> bytes:
    """``data`` (a flat image loaded at ``base``) as UF2 blocks of ``payload`` bytes each, the
    last one zero-padded (the boot ROM writes whole pages)."""
    if base % payload:
        raise TinygenError(f"UF2: the image's base address 0x{base:08X} is not {payload}-byte aligned")
    if not data:
        raise TinygenError("UF2: the firmware image is empty")
    count = (len(data) + payload - 1) // payload
    blocks = []
    for number in range(count):
        chunk = data[number * payload : (number + 1) * payload].ljust(payload, b"\0")
        header = struct.pack(
            "<8I", MAGIC_START0, MAGIC_START1, FLAG_FAMILY_ID, base + number * payload, payload, number, count, family
        )
        blocks.append(header + chunk.ljust(DATA_SIZE, b"\0") + struct.pack("<I", MAGIC_END))
    return b"".join(blocks)


def find_drive(label: str = "RPI-RP2") -> Path | None:
    """The mounted drive of a UF2 bootloader called ``label`` (it holds INFO_UF2.TXT): the one
    ``$TINYGEN_UF2_DRIVE`` names, else the usual mount points (Linux /media, /run/media and
    /proc/mounts, macOS /Volumes)."""
    candidates: list[Path] = []
    if os.environ.get(DRIVE_ENV):
        candidates.append(Path(os.environ[DRIVE_ENV]))
    for pattern in (f"/media/*/{label}", f"/run/media/*/{label}", f"/media/{label}", f"/Volumes/{label}"):
        candidates += sorted(Path("/").glob(pattern.lstrip("/")))
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        mounts = []
    candidates += [Path(line.split()[1]) for line in mounts if len(line.split()) > 1 and line.split()[1].endswith(f"/{label}")]
    return next((c for c in candidates if (c / INFO_FILE).is_file()), None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinygen.uf2", description="Convert a flat binary to UF2.")
    parser.add_argument("binary", type=Path)
    parser.add_argument("uf2", type=Path)
    parser.add_argument("--base", type=lambda v: int(v, 0), required=True, help="load address of the binary's first byte")
    parser.add_argument("--family", type=lambda v: int(v, 0), required=True, help="UF2 family id")
    args = parser.parse_args(argv)
    args.uf2.write_bytes(bin_to_uf2(args.binary.read_bytes(), args.base, args.family))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
