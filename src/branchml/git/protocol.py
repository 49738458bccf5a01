"""Git's pkt-line framing, as used by the long-running filter protocol (gitprotocol-common(5)).

A packet is 4 hex digits of length (counting those 4 bytes) then the payload; "0000" is a flush.
Pure byte handling over binary streams, so it is tested without Git.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Protocol

from branchml.errors import BranchmlError, ExitCode

MAX_PAYLOAD = 65516
FLUSH = None  # what read_packet returns for a flush packet


class ProtocolError(BranchmlError):
    exit_code = ExitCode.FILTER_PROTOCOL


class ByteSource(Protocol):
    """A buffered binary input (Git's pipe, or bytes in tests) that can read into a given buffer."""

    def read(self, size: int, /) -> bytes: ...

    def readinto(self, buffer: memoryview, /) -> int | None: ...


class PacketReader:
    def __init__(self, stream: ByteSource) -> None:
        self.stream = stream

    def read_packet(self) -> bytes | None:
        """Next payload, None for a flush; raises EOFError at a clean end of stream."""
        size = self._payload_size()
        if size is None:
            return FLUSH
        payload = self.stream.read(size)
        if len(payload) != size:
            raise ProtocolError("truncated pkt-line payload")
        return payload

    def read_packet_into(self, buffer: memoryview) -> tuple[int, bytes] | None:
        """The next payload read straight into `buffer` (no copy of content on its way to the
        chunker): (bytes put there, the part that did not fit), or None for a flush."""
        size = self._payload_size()
        if size is None:
            return None
        if size > len(buffer):
            payload = self.stream.read(size)
            if len(payload) != size:
                raise ProtocolError("truncated pkt-line payload")
            buffer[:] = payload[: len(buffer)]
            return len(buffer), payload[len(buffer) :]
        filled = 0
        while filled < size:
            n = self.stream.readinto(buffer[filled:size])
            if not n:
                raise ProtocolError("truncated pkt-line payload")
            filled += n
        return size, b""

    def _payload_size(self) -> int | None:
        """The next packet's payload length, None for a flush; EOFError at a clean end of stream."""
        head = self.stream.read(4)
        if not head:
            raise EOFError
        if len(head) != 4:
            raise ProtocolError(f"truncated pkt-line header {head!r}")
        try:
            length = int(head, 16)
        except ValueError:
            raise ProtocolError(f"bad pkt-line header {head!r}") from None
        if length == 0:
            return None
        if length < 4 or length > MAX_PAYLOAD + 4:
            raise ProtocolError(f"bad pkt-line length {length}")
        return length - 4

    def read_text_list(self) -> list[str]:
        """Text packets up to the next flush (e.g. `key=value` lines), without their newlines."""
        lines = []
        while (packet := self.read_packet()) is not FLUSH:
            lines.append(packet.decode().rstrip("\n"))
        return lines

    def read_key_values(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for line in self.read_text_list():
            key, _, value = line.partition("=")
            out[key] = value
        return out

    def iter_content(self) -> Iterator[bytes]:
        """Content packets up to the next flush."""
        while (packet := self.read_packet()) is not FLUSH:
            yield packet


class ContentReader:
    """A file-like `readinto` over content packets (what the chunker reads), starting with `prefix`."""

    def __init__(self, packets: PacketReader, prefix: bytes = b"", done: bool = False) -> None:
        self.packets = packets
        self.pending = memoryview(prefix)
        self.done = done

    def readinto(self, buffer: memoryview) -> int:
        """Fill `buffer` unless the content ends first; packets are read straight into it."""
        filled = 0
        want = len(buffer)
        while filled < want:
            if self.pending:
                n = min(want - filled, len(self.pending))
                buffer[filled : filled + n] = self.pending[:n]
                self.pending = self.pending[n:]
                filled += n
                continue
            if self.done:
                break
            got = self.packets.read_packet_into(buffer[filled:])
            if got is None:
                self.done = True
                break
            filled += got[0]
            self.pending = memoryview(got[1])
        return filled

    def fill(self, limit: int) -> bytes:
        """Read content until `limit` bytes are pending or it ended (see `done`); the bytes stay pending."""
        prefix = bytearray(self.pending)
        while len(prefix) < limit and not self.done:
            packet = self.packets.read_packet()
            if packet is FLUSH:
                self.done = True
            else:
                prefix += packet
        self.pending = memoryview(bytes(prefix))
        return bytes(prefix)

    def drain(self) -> int:
        """Skip the rest of the content; return how many bytes were skipped."""
        skipped = len(self.pending)
        self.pending = memoryview(b"")
        while not self.done:
            packet = self.packets.read_packet()
            if packet is FLUSH:
                self.done = True
            else:
                skipped += len(packet)
        return skipped


class PacketWriter:
    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream

    def packet(self, payload: bytes | memoryview) -> None:
        self.stream.write(b"%04x" % (len(payload) + 4))
        self.stream.write(payload)

    def text(self, line: str) -> None:
        self.packet((line + "\n").encode())

    def flush(self) -> None:
        self.stream.write(b"0000")
        self.stream.flush()

    def content(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        for start in range(0, len(view), MAX_PAYLOAD):
            self.packet(view[start : start + MAX_PAYLOAD])
