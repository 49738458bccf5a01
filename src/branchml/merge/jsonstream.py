"""A JSON array read element by element from blocks of bytes, with each element's byte range.

Each element is decoded by the standard library's own decoder (`json.JSONDecoder.raw_decode`), so
values, and therefore identities, are exactly those `json.loads` gives on the whole document (NaN,
big numbers, duplicate object keys, lone surrogates alike); a streaming library such as ijson
decodes numbers and some edge cases differently, which would change what counts as "the same
element". Only the array's brackets, commas and whitespace are handled here.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from branchml.merge.records import Unmergeable

_SPACE = re.compile(r"[ \t\n\r]*")  # JSON's whitespace (json.loads skips exactly these)
STRIPPED = b" \t\n\r\x0b\x0c"  # what bytes.strip() removes: a side of only these is empty


class _Text:
    """Decoded text over the blocks, with the byte offset of the current position."""

    def __init__(self, blocks: Iterable[bytes], side: str) -> None:
        self.blocks = iter(blocks)
        self.side = side
        self.decoder = codecs.getincrementaldecoder("utf-8")("surrogatepass")  # as json.loads(bytes)
        self.text, self.pos, self.offset, self.eof = "", 0, 0, False

    def more(self) -> bool:
        """Read at least as much again as is left unread (so a long element costs linear time)."""
        if self.eof:
            return False
        rest, self.pos = self.text[self.pos:], 0
        parts, size = [rest], 0
        while size <= len(rest):
            block = next(self.blocks, None)
            try:
                parts.append(self.decoder.decode(block or b"", final=block is None))
            except UnicodeDecodeError as exc:
                self.fail(f"not UTF-8: {exc.reason}")
            if block is None:
                self.eof = True
                break
            size += len(block)
        self.text = "".join(parts)
        return True

    def skip_space(self) -> None:
        while True:
            space = _SPACE.match(self.text, self.pos)
            assert space is not None  # the pattern matches the empty string anywhere
            end = space.end()
            self.offset += end - self.pos
            self.pos = end
            if self.pos < len(self.text) or not self.more():
                return

    def peek(self) -> str:
        while self.pos >= len(self.text):
            if not self.more():
                return ""
        return self.text[self.pos]

    def take(self, char: str) -> None:
        if self.peek() != char:
            self.fail(f"expecting {char!r}")
        self.pos += 1
        self.offset += 1

    def value(self, decoder: json.JSONDecoder) -> tuple[Any, int, int]:
        """The next element, its byte offset and length."""
        while True:
            try:
                value, end = decoder.raw_decode(self.text, self.pos)
                if end < len(self.text) or self.eof:  # else a number might go on in the next block
                    break
            except json.JSONDecodeError as exc:
                if self.eof:
                    self.fail(exc.msg)
            except RecursionError:
                raise Unmergeable(f"{self.side} is JSON nested too deeply to merge") from None
            self.more()
        start = self.offset
        self.offset += len(self.text[self.pos:end].encode("utf-8", "surrogatepass"))
        self.pos = end
        return value, start, self.offset - start

    def fail(self, why: str) -> None:
        raise Unmergeable(f"{self.side} is not valid JSON ({why} near byte {self.offset})")


def elements(blocks: Iterable[bytes], side: str) -> Iterator[tuple[Any, int, int]]:
    """(value, byte offset, byte length) of each element of the array; nothing for an empty side."""
    text, decoder = _Text(blocks, side), json.JSONDecoder()
    text.skip_space()
    if not text.peek():
        return
    text.take("[")
    text.skip_space()
    if text.peek() == "]":
        text.take("]")
    else:
        while True:
            yield text.value(decoder)
            text.skip_space()
            if text.peek() != ",":
                text.take("]")
                break
            text.take(",")
            text.skip_space()
    text.skip_space()
    if text.peek():
        text.fail("extra data")


def kind(head: bytes) -> str | None:
    """"list" when the side can stream (UTF-8 text starting with `[`), None when empty, else "other"."""
    body = head.lstrip(STRIPPED)
    if not body:
        return None
    if body[:1] == b"[" and b"\x00" not in head[:4]:  # a NUL there: UTF-16/32, which json.loads also reads
        return "list"
    return "other"


class Layout:
    """How ours is laid out (what `jsonlist._dump` looks at), found in one pass over its blocks."""

    def __init__(self, blocks: Iterable[bytes]) -> None:
        self.multiline = self.spaced = False
        first = last = -1  # offsets of the first and last byte that bytes.strip() keeps
        size, tail, newline = 0, b"", False
        for block in blocks:
            self.spaced = self.spaced or b", " in block or b": " in block or tail + block[:1] in (b", ", b": ")
            start = 0
            if first < 0:
                start = len(block) - len(block.lstrip(STRIPPED))
                first = size + start if start < len(block) else -1
            end = len(block.rstrip(STRIPPED))
            if first >= 0 and end > start:
                self.multiline = self.multiline or newline or b"\n" in block[start:end]
                newline, last = b"\n" in block[end:], size + end - 1
            elif first >= 0:
                newline = newline or b"\n" in block[start:]
            size, tail = size + len(block), block[-1:]
        self.length = last - first + 1 if first >= 0 else 0
        self.trailing_newline = tail == b"\n" or size == 0
