"""Git's long-running filter protocol (gitattributes(5), "Long Running Filter Process"), and nothing else.

The protocol is kept apart from what the filter does with the bytes (git/filter.py: clean and smudge
over the store), as Git LFS keeps its `filter_process_scanner`: this module knows pkt-lines, the
version-2 handshake, the request headers, and the order of an answer; it knows no store, no
repository and no pointer, so it is tested by replaying byte exchanges with a handler of a few lines.

An answer is `status=success` + flush, the content packets, a flush, and an empty list (status kept),
or `status=error` + flush with no content. Once the content has started, an error must end the
content first (a flush) and then say `status=error`: Git then discards everything it received, so a
half-written file never reaches the work tree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from branchml.git.protocol import (
    ContentReader,
    PacketReader,
    PacketWriter,
    ProtocolError,
)

CAPABILITIES = ("clean", "smudge")


@dataclass
class Request:
    """One command from Git: its headers (command, pathname, treeish, ref...) and its content."""

    headers: dict[str, str]
    content: ContentReader

    @property
    def command(self) -> str:
        return self.headers.get("command", "")

    @property
    def path(self) -> str:
        return self.headers.get("pathname", "?")


class Reply:
    """The answer to one request; refuses to answer twice and ends started content before an error."""

    def __init__(self, writer: PacketWriter) -> None:
        self.writer = writer
        self.started = False  # status=success sent: content may be on its way
        self.finished = False

    def success(self, content: bytes | memoryview) -> None:
        """The whole answer at once."""
        self.begin()
        self.write(content)
        self.end()

    def begin(self) -> None:
        self._check_open()
        self.started = True
        self.writer.text("status=success")
        self.writer.flush()

    def write(self, content: bytes | memoryview) -> None:
        if not self.started:
            raise ProtocolError("content written before status=success")
        self.writer.content(content)

    def end(self) -> None:
        self.writer.flush()  # end of content
        self.writer.flush()  # empty list: status stays "success"
        self.finished = True

    def error(self) -> None:
        self._check_open()
        if self.started:
            self.writer.flush()  # end the content Git is reading; it discards it on the error below
        self.writer.text("status=error")
        self.writer.flush()
        self.finished = True

    def _check_open(self) -> None:
        if self.finished:
            raise ProtocolError("a second answer to one request")


Handler = Callable[[Request, Reply], None]
# Called when a handler raises anything but a protocol error: says what went wrong for the error line.
OnFailure = Callable[[Request, Exception], None]


class FilterProtocol:
    """The server side of one long-running filter conversation over pkt-line streams."""

    def __init__(self, reader: PacketReader, writer: PacketWriter, capabilities: Sequence[str] = CAPABILITIES) -> None:
        self.reader = reader
        self.writer = writer
        self.capabilities = capabilities

    def handshake(self) -> None:
        """`git-filter-client`/`version=2`, then the capabilities both sides have."""
        hello = self.reader.read_text_list()
        if "git-filter-client" not in hello or "version=2" not in hello:
            raise ProtocolError(f"unexpected filter handshake {hello!r}")
        self.writer.text("git-filter-server")
        self.writer.text("version=2")
        self.writer.flush()
        offered = self.reader.read_text_list()
        for name in self.capabilities:
            if f"capability={name}" in offered:
                self.writer.text(f"capability={name}")
        self.writer.flush()

    def next_request(self) -> Request | None:
        """The next request, or None when Git closed the stream between requests."""
        try:
            headers = self.reader.read_key_values()
        except EOFError:
            return None
        return Request(headers, ContentReader(self.reader))

    def serve(self, handle: Handler, on_failure: OnFailure) -> None:
        """Handshake, then answer every request until EOF. A handler that raises gets `status=error`
        for that path (its unread content skipped) and the next request is served; a broken stream
        (ProtocolError) or Git going away (BrokenPipeError) ends the conversation."""
        self.handshake()
        while (request := self.next_request()) is not None:
            reply = Reply(self.writer)
            try:
                handle(request, reply)
                if not reply.finished:
                    raise RuntimeError(f"the filter gave no answer for {request.path}")
            except (ProtocolError, BrokenPipeError):
                raise
            except Exception as exc:  # one path failed: say so for it and keep serving
                request.content.drain()
                on_failure(request, exc)
                if not reply.finished:
                    reply.error()
            request.content.drain()  # a handler that answered without reading it all
