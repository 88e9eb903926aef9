"""The serial line protocol of ``validate --port`` (tinygen/serialport.py) and ``tinygen monitor``'s summaries,
without hardware: pyserial's ``loop://`` port reads back what is written to it, so the lines a board would
send are written first and the host's own request (read back too) must be skipped like any stale line."""

from __future__ import annotations

import zlib

import pytest

from tinygen.commands.monitor import _Seen, describe
from tinygen.errors import TinygenError
from tinygen.serialport import BoardPort, Ready, Reply, lines, open_port, request_line


def _board(*answers: str, timeout: float = 2.0) -> BoardPort:
    ser = open_port("loop://", timeout=0.05)
    ser.write("".join(line + "\n" for line in answers).encode())
    return BoardPort(ser, "loop://", timeout=timeout)


def test_request_line_carries_the_bytes_and_their_zlib_crc() -> None:
    data = bytes([0, 1, 0x7F, 0x80, 0xFF])
    assert request_line(12, data) == f"TG-IN 12 00017f80ff {zlib.crc32(data):08x}\n".encode()


def test_answer_is_found_by_its_number_among_stale_lines() -> None:
    board = _board("TG-OUT 0 ffff", "garbage from a broken line", "TG-ERR -1 unknown request", "TG-CYCLES 0 5",
                   "TG-OUT 1 0102fe", "TG-CYCLES 1 1234")
    assert board.infer(b"\x05") == Reply(b"\x01\x02\xfe", cycles=1234)


def test_timer_ticks_where_the_core_has_no_cycle_counter() -> None:
    assert _board("TG-OUT 1 80", "TG-TIME 1 77").infer(b"\x00") == Reply(b"\x80", ticks=77)


def test_a_rejected_request_is_sent_again_with_a_new_number() -> None:
    board = _board("TG-ERR 1 CRC mismatch: the line was damaged", "TG-OUT 2 aa", "TG-TIME 2 9")
    assert board.infer(b"\x01\x02") == Reply(b"\xaa", ticks=9)
    assert board.seq == 2


def test_a_request_rejected_every_time_fails_with_the_boards_reason() -> None:
    board = _board(*(f"TG-ERR {n} length: fewer input bytes than the model takes" for n in range(1, 5)))
    with pytest.raises(TinygenError, match="rejected an input vector 4 times: length: fewer input bytes"):
        board.infer(b"\x01")


def test_a_failing_model_run_is_not_retried() -> None:
    board = _board("TG-ERR 1 the model's run function returned 2")
    with pytest.raises(TinygenError, match="run function returned 2"):
        board.infer(b"\x01")


def test_no_answer_within_the_timeout() -> None:
    with pytest.raises(TinygenError, match="no answer from the board on loop:// to input vector 1 within 0.3 s"):
        _board(timeout=0.3).infer(b"\x01")


def test_reset_waits_for_its_acknowledgement() -> None:
    board = _board("TG-RESET 1")
    board.reset()
    assert board.seq == 1


def test_ready_line(monkeypatch: pytest.MonkeyPatch) -> None:
    board = _board("TG-CLOCK 16000000 ok", "TG-READY digits_cnn_int8 64 10")
    # ready() drops what arrived before it asks; here that is the board's answer itself
    monkeypatch.setattr(board.ser, "reset_input_buffer", lambda: None)
    assert board.ready() == Ready("digits_cnn_int8", 64, 10)


def test_no_ready_line_says_what_the_board_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    board = _board("TG-BEGIN fcnet 3", timeout=0.3)
    monkeypatch.setattr(board.ser, "reset_input_buffer", lambda: None)
    with pytest.raises(TinygenError, match=r"no TG-READY .*\(it printed: TG-BEGIN fcnet 3; TG-PING\).*streaming"):
        board.ready()


def test_a_port_that_does_not_exist_names_itself_and_where_to_look() -> None:
    with pytest.raises(TinygenError, match=r"cannot open serial port /dev/ttyACM-none: .*ls /dev/ttyACM\*"):
        open_port("/dev/ttyACM-none")


def test_lines_joins_a_line_split_by_read_timeouts() -> None:
    ser = open_port("loop://", timeout=0.05)
    ser.write(b"TG-OUT 0 01")
    stream = lines(ser)
    ser.write(b"02\r\nTG-END 0\n")
    assert [next(stream), next(stream)] == ["TG-OUT 0 0102", "TG-END 0"]


@pytest.mark.parametrize(
    ("line", "summary"),
    [
        ("TG-CLOCK 16000000 fallback: the PLL did not lock", "clock     16 MHz, fallback: the PLL did not lock"),
        ("TG-READY fcnet 16 4", "ready     model fcnet waits for inputs (16 bytes in, 4 bytes out)"),
        ("TG-OUT 3 fbffff03", "#3        output [-5, -1, -1, 3] (4 int8 bytes, largest at 3)"),
        ("TG-CYCLES 3 0", "#3        0 cycles (0: no cycle counter, as in QEMU)"),
        ("TG-ERR 4 CRC mismatch: the line was damaged", "#4        rejected: CRC mismatch: the line was damaged"),
        ("TG-END 0", "end       status 0 (ok)"),
        ("TG-OUT 1 zz", "TG-OUT 1 zz"),  # damaged: as it came
        ("hello from the user's app", "hello from the user's app"),
    ],
)
def test_monitor_summaries(line: str, summary: str) -> None:
    assert describe(line, _Seen()) == summary


def test_monitor_turns_cycles_into_time_at_the_reported_clock() -> None:
    seen = _Seen()
    describe("TG-CLOCK 100000000 ok", seen)
    assert describe("TG-CYCLES 7 250000", seen) == "#7        250,000 cycles = 2.500 ms at 100 MHz"
