"""The board's serial port: the line protocol of the streaming validation firmware (firmware/app/main.c built
with TG_APP_STREAM) over a pyserial port, and the board's lines for ``tinygen monitor``.

A port is anything pyserial opens: a device (``/dev/ttyACM0``, ``COM3``) or a URL (``socket://HOST:PORT``,
QEMU's USART on a TCP socket; ``loop://``, for tests). The host sends ``TG-IN <n> <hex> <crc32>`` and reads
``TG-OUT <n> <hex>`` (and ``TG-CYCLES``/``TG-TIME <n> <count>``); lines that answer nothing the host asked
(left over from before the port was opened, from a damaged line) are skipped by their number, and a request
the board rejected (``TG-ERR <n> <why>``, e.g. a CRC mismatch) is sent again.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tinygen.errors import TinygenError

DEFAULT_BAUD = 115200
#: seconds to wait for one answer (an inference and its output line)
DEFAULT_TIMEOUT = 10.0
#: times a request the board rejected (a damaged line) is sent again
RETRIES = 3


@dataclass(frozen=True)
class Ready:
    """The board's ``TG-READY <model> <input bytes> <output bytes>`` line."""

    model: str
    input_bytes: int
    output_bytes: int


@dataclass(frozen=True)
class Reply:
    """The answer to one input vector: its output bytes, and the inference's DWT cycles (``TG-CYCLES``) or
    timer ticks (``TG-TIME``, cores without a cycle counter)."""

    outputs: bytes
    cycles: int | None = None
    ticks: int | None = None


def open_port(port: str, baud: int = DEFAULT_BAUD, timeout: float = DEFAULT_TIMEOUT) -> Any:
    """Open ``port`` (a device or a pyserial URL) with a read timeout; a TinygenError saying how to find the
    board's port when it cannot be opened."""
    import serial

    try:
        return serial.serial_for_url(port, baudrate=baud, timeout=timeout)
    except (serial.SerialException, ValueError, OSError) as exc:
        raise TinygenError(f"cannot open serial port {port}: {exc}. {_port_hint(exc)}") from exc


def _port_hint(exc: BaseException) -> str:
    text = str(exc).lower()
    if "permission" in text or "errno 13" in text:
        return ("Your user may not read the port: add it to the dialout group ('sudo usermod -aG dialout $USER', "
                "then log in again).")
    return ("Is the board plugged in? Its port is usually /dev/ttyACM* (ST-Link, J-Link, nRF DK) or /dev/ttyUSB* "
            "(USB-serial adapters) on Linux, /dev/cu.usbmodem* on macOS, COMn on Windows: list them with "
            "'ls /dev/ttyACM* /dev/ttyUSB*' or 'python -m serial.tools.list_ports'.")


def request_line(seq: int, data: bytes) -> bytes:
    """The ``TG-IN`` line for one input vector (its bytes, every input one after the other)."""
    return f"TG-IN {seq} {data.hex()} {zlib.crc32(data):08x}\n".encode("ascii")


def read_line(ser: Any) -> str | None:
    """One line from the port without its line ending; None when the read timed out."""
    raw = ser.readline()
    if not raw or not raw.endswith(b"\n"):
        return None
    return raw.decode("ascii", errors="replace").rstrip("\r\n")


def lines(ser: Any) -> Iterator[str]:
    """Every line the board prints (the read timeout only restarts the wait), until the caller stops."""
    pending = b""
    while True:
        raw = ser.readline()
        pending += raw
        if pending.endswith(b"\n"):
            yield pending.decode("ascii", errors="replace").rstrip("\r\n")
            pending = b""


class BoardPort:
    """The streaming firmware's protocol on an open pyserial port."""

    def __init__(self, ser: Any, name: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.ser, self.name, self.timeout = ser, name, timeout
        self.seq = 0

    def close(self) -> None:
        self.ser.close()

    def ready(self) -> Ready:
        """Ask the firmware who it is (``TG-PING``; it also says so at boot, before the port may be open)."""
        self.ser.reset_input_buffer()
        self.ser.write(b"\nTG-PING\n")  # the newline first ends whatever half line the board may hold
        deadline = time.monotonic() + self.timeout
        seen: list[str] = []
        while time.monotonic() < deadline:
            line = read_line(self.ser)
            if not line:
                continue
            fields = line.split()
            if len(fields) == 4 and fields[0] == "TG-READY":
                return Ready(fields[1], int(fields[2]), int(fields[3]))
            seen.append(line)
        shown = "; ".join(seen[-3:]) or "nothing"
        raise TinygenError(
            f"no TG-READY from the board on {self.name} within {self.timeout:g} s (it printed: {shown}): is the "
            "streaming validation firmware flashed (tinygen validate --port ... --flash, or tinygen flash on the "
            "firmware folder validate wrote) and the baud rate right (--baud)?")

    def reset(self) -> None:
        """Put the model's state (a streaming model's) back to its start (``TG-RESET``)."""
        for _ in range(1 + RETRIES):
            self.seq += 1
            self.ser.write(f"TG-RESET {self.seq}\n".encode("ascii"))
            if self._wait_for("TG-RESET", self.seq):
                return
        raise TinygenError(f"the board on {self.name} did not reset the model's state")

    def _wait_for(self, kind: str, seq: int) -> bool:
        """Whether the board answered ``kind seq`` (False: it rejected the request)."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            line = read_line(self.ser)
            if line is not None and _split(line)[1] == seq:
                return _split(line)[0] == kind
        raise TinygenError(f"no answer from the board on {self.name} within {self.timeout:g} s")

    def infer(self, data: bytes) -> Reply:
        """Run one input vector on the board; its outputs. A rejected line is sent again (RETRIES times)."""
        why = ""
        for _ in range(1 + RETRIES):
            self.seq += 1
            self.ser.write(request_line(self.seq, data))
            reply, why = self._answer(self.seq)
            if reply is not None:
                return reply
        raise TinygenError(f"the board on {self.name} rejected an input vector {1 + RETRIES} times: {why}")

    def _answer(self, seq: int) -> tuple[Reply | None, str]:
        """The board's answer to request ``seq``: (Reply, "") or (None, the board's reason)."""
        outputs: bytes | None = None
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            line = read_line(self.ser)
            if line is None:
                continue
            kind, number, rest = _split(line)
            if number != seq:
                continue  # an answer to an earlier request, or a line of no request: resync on ours
            if kind == "TG-ERR":
                if rest.startswith("the model's run function"):
                    raise TinygenError(f"the board on {self.name}: {rest}")
                return None, rest
            if kind == "TG-OUT":
                outputs = _hex(rest, line)
            elif kind in ("TG-CYCLES", "TG-TIME") and outputs is not None:
                count = int(rest)
                return (Reply(outputs, cycles=count) if kind == "TG-CYCLES" else Reply(outputs, ticks=count)), ""
        raise TinygenError(f"no answer from the board on {self.name} to input vector {seq} within "
                           f"{self.timeout:g} s; is it still running the streaming validation firmware?")


def _split(line: str) -> tuple[str, int | None, str]:
    """(kind, number, the rest) of a ``TG-KIND <n> rest`` line; number None where there is none."""
    fields = line.split(" ", 2)
    try:
        number = int(fields[1]) if len(fields) > 1 else None
    except ValueError:
        number = None
    return fields[0], number, fields[2] if len(fields) > 2 else ""


def _hex(text: str, line: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise TinygenError(f"the board sent a damaged output line: {line!r}") from exc
