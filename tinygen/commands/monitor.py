"""``tinygen monitor --port PORT``: read the board's console lines and print each as a readable summary, until
Ctrl-C or the firmware's ``TG-END`` (the exit status is then the firmware's). ``--raw`` prints them untouched."""

from __future__ import annotations

from dataclasses import dataclass

import click

from tinygen.serialport import DEFAULT_BAUD

#: output values shown per TG-OUT line; longer outputs end with "..."
SHOWN_VALUES = 16


@dataclass
class _Seen:
    """What earlier lines said that later ones need: the core clock (cycles to time)."""

    clock_hz: int | None = None


def describe(line: str, seen: _Seen) -> str:
    """A readable one-line summary of a console line of the firmware (docs/INTERNALS.md); others as they are."""
    kind, _, rest = line.partition(" ")
    fields = rest.split()
    try:
        return _DESCRIBE[kind](fields, rest, seen) if kind in _DESCRIBE else line
    except (ValueError, IndexError):
        return line  # a damaged line: shown as it came


def _clock(fields: list[str], rest: str, seen: _Seen) -> str:
    seen.clock_hz = int(fields[0])
    how = rest.split(" ", 1)[1] if " " in rest else ""
    state = "at the rated clock" if how == "ok" else how
    return f"clock     {seen.clock_hz / 1e6:g} MHz, {state}"


def _values(text: str) -> str:
    values = [b - 256 if b > 127 else b for b in bytes.fromhex(text)]
    shown = ", ".join(map(str, values[:SHOWN_VALUES])) + (", ..." if len(values) > SHOWN_VALUES else "")
    top = max(range(len(values)), key=values.__getitem__) if values else None
    return f"[{shown}] ({len(values)} int8 bytes, largest at {top})"


def _cycles(fields: list[str], rest: str, seen: _Seen) -> str:
    cycles = int(fields[1])
    time = f" = {cycles / seen.clock_hz * 1e3:.3f} ms at {seen.clock_hz / 1e6:g} MHz" if seen.clock_hz else ""
    note = " (0: no cycle counter, as in QEMU)" if cycles == 0 else ""
    return f"#{fields[0]:<8} {cycles:,} cycles{time}{note}"


#: slowest layers named per TG-LAYERS line
SHOWN_LAYERS = 3


def _layers(fields: list[str], rest: str, seen: _Seen) -> str:
    """TG-LAYERS <v> <ticks per layer...>: each layer's timer ticks, DWT cycles on a board."""
    ticks = [int(t) for t in fields[1:]]
    total = sum(ticks)
    if total == 0:
        return f"#{fields[0]:<8} {len(ticks)} layers: 0 ticks each (no cycle counter, as in QEMU)"
    slowest = sorted(range(len(ticks)), key=lambda i: -ticks[i])[:SHOWN_LAYERS]
    named = ", ".join(f"#{i} {ticks[i]:,} ({100 * ticks[i] / total:.0f} %)" for i in slowest)
    return f"#{fields[0]:<8} {len(ticks)} layers, {total:,} cycles in all; slowest: {named}"


_DESCRIBE = {
    "TG-CLOCK": _clock,
    "TG-BEGIN": lambda f, r, s: f"model     {f[0]}: {f[1]} embedded input vector(s)",
    "TG-READY": lambda f, r, s: f"ready     model {f[0]} waits for inputs ({f[1]} bytes in, {f[2]} bytes out)",
    "TG-OUT": lambda f, r, s: f"#{f[0]:<8} output {_values(f[1] if len(f) > 1 else '')}",
    "TG-TIME": lambda f, r, s: f"#{f[0]:<8} {int(f[1]):,} timer ticks",
    "TG-CYCLES": _cycles,
    "TG-LAYERS": _layers,
    "TG-TENSOR": lambda f, r, s: f"#{f[0]:<8} layer {f[1]} output: {len(f[2]) // 2} bytes",
    "TG-CHECKSUM": lambda f, r, s: f"checksum  CRC-32 of every output: {f[0]}",
    "TG-STACK": lambda f, r, s: f"stack     {int(f[0]):,} bytes at most",
    "TG-FAULT": lambda f, r, s: f"FAULT     {r}",
    "TG-ERR": lambda f, r, s: f"#{f[0]:<8} rejected: {r.split(' ', 1)[1] if ' ' in r else ''}",
    "TG-END": lambda f, r, s: f"end       status {f[0]} ({'ok' if f[0] == '0' else 'failed'})",
}


@click.command("monitor")
@click.option("--port", "-p", "port", required=True, metavar="PORT",
              help="The board's serial port (/dev/ttyACM0, COM3, or a pyserial URL such as socket://HOST:PORT).")
@click.option("--baud", type=int, default=DEFAULT_BAUD, show_default=True, help="Baud rate of the board's console.")
@click.option("--raw", is_flag=True, help="Print the lines as they come, without the summaries.")
def command(port: str, baud: int, raw: bool) -> int:
    """Print the board's console lines (TG-OUT, TG-CYCLES...) readably, until Ctrl-C or TG-END."""
    from tinygen.serialport import lines, open_port

    ser = open_port(port, baud, timeout=0.5)
    seen = _Seen()
    status = 0
    try:
        for line in lines(ser):
            click.echo(line if raw else describe(line, seen))
            if line.startswith("TG-END "):
                status = int(line.split()[1]) if line.split()[1].lstrip("-").isdigit() else 1
                break
    except KeyboardInterrupt:
        pass
    finally:
        ser.close()
    return status  # the firmware's exit status (tinygen.cli.main exits with it)
