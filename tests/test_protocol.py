"""pkt-line framing against byte fixtures written from gitprotocol-common(5)."""

import io

import pytest

from branchml.git.protocol import (
    ContentReader,
    PacketReader,
    PacketWriter,
    ProtocolError,
)


def test_writer_frames_text_content_and_flush():
    out = io.BytesIO()
    w = PacketWriter(out)
    w.text("status=success")
    w.flush()
    w.content(b"a" * 70000)
    w.flush()
    data = out.getvalue()
    assert data.startswith(b"0013status=success\n0000")
    assert data[23:27] == b"fff0"  # 65516 payload + 4
    assert data.endswith(b"0000")


def test_reader_round_trip_and_content_reader():
    out = io.BytesIO()
    w = PacketWriter(out)
    w.text("command=clean")
    w.text("pathname=a b/c")
    w.flush()
    payload = bytes(range(256)) * 600
    w.content(payload)
    w.flush()
    r = PacketReader(io.BytesIO(out.getvalue()))
    assert r.read_key_values() == {"command": "clean", "pathname": "a b/c"}
    reader = ContentReader(r, b"")
    buf = bytearray(1000)
    got = bytearray()
    while n := reader.readinto(memoryview(buf)):
        got += buf[:n]
    assert bytes(got) == payload and reader.done
    with pytest.raises(EOFError):
        r.read_packet()


@pytest.mark.parametrize("raw", [b"00", b"zzzz", b"0003", b"0010abc"])
def test_bad_packets_are_protocol_errors(raw):
    with pytest.raises(ProtocolError):
        PacketReader(io.BytesIO(raw)).read_packet()
