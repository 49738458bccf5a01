"""FilterServer against recorded byte exchanges, as Git sends and expects them (no Git involved).

Each test writes what Git would write to the filter's stdin, runs the server over a real store in a
temporary folder, and reads back the exact pkt-lines it answered.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from branchml.crash import report_crash
from branchml.git.filter import FilterServer
from branchml.git.filterproto import FilterProtocol, Reply, Request
from branchml.git.protocol import PacketReader, PacketWriter, ProtocolError
from branchml.store.pointer import parse_pointer
from branchml.store.store import Store


def pkt(payload: bytes) -> bytes:
    return b"%04x" % (len(payload) + 4) + payload


FLUSH = b"0000"
HANDSHAKE = (
    pkt(b"git-filter-client\n") + pkt(b"version=2\n") + FLUSH
    + pkt(b"capability=clean\n") + pkt(b"capability=smudge\n") + FLUSH
)
HANDSHAKE_ANSWER = (
    pkt(b"git-filter-server\n") + pkt(b"version=2\n") + FLUSH
    + pkt(b"capability=clean\n") + pkt(b"capability=smudge\n") + FLUSH
)


def request(command: str, path: str, content: bytes) -> bytes:
    body = b"".join(pkt(content[i : i + 65516]) for i in range(0, len(content), 65516))
    return pkt(f"command={command}\n".encode()) + pkt(f"pathname={path}\n".encode()) + FLUSH + body + FLUSH


def success(content: bytes) -> bytes:
    body = b"".join(pkt(content[i : i + 65516]) for i in range(0, len(content), 65516))
    return pkt(b"status=success\n") + FLUSH + body + FLUSH + FLUSH


ERROR = pkt(b"status=error\n") + FLUSH


def frames(stream: bytes) -> list[bytes | None]:
    """Packets with runs of data packets joined (where Git cuts content into packets is free)."""
    out: list[bytes | None] = []
    reader = PacketReader(io.BytesIO(stream))
    while True:
        try:
            packet = reader.read_packet()
        except EOFError:
            return out
        if packet is not None and out and out[-1] is not None:
            out[-1] += packet
        else:
            out.append(packet)


class StoreOnly:
    """What the filter needs of a repository here: its store (a real one, in a temporary folder)."""

    def __init__(self, store: Store) -> None:
        self.store = store


def serve(tmp_path: Path, stdin: bytes, open_repo=None) -> bytes:
    store = Store(tmp_path / "store")
    out = io.BytesIO()
    server = FilterServer(
        PacketReader(io.BytesIO(stdin)), PacketWriter(out), tmp_path,
        open_repo or (lambda: StoreOnly(store)), lambda exc, cmd: report_crash(exc, cmd, tmp_path),
    )
    try:
        server.serve()
    finally:
        server.close()
        store.close()
    return out.getvalue()


BIG = os.urandom(700_000)  # several chunks, so a smudge streams more than one


def pointer_of(data: bytes, tmp_path: Path) -> bytes:
    """The pointer any store gives `data` (content-addressed: the same in every store)."""
    with Store(tmp_path / "reference") as store:
        return store.put_bytes(data).encode()


def test_clean_then_smudge_round_trip(tmp_path):
    pointer_text = pointer_of(BIG, tmp_path)
    answer = serve(tmp_path, HANDSHAKE + request("clean", "data/big.bin", BIG))
    assert answer == HANDSHAKE_ANSWER + success(pointer_text)
    again = serve(tmp_path, HANDSHAKE + request("smudge", "data/big.bin", pointer_text))
    assert frames(again) == frames(HANDSHAKE_ANSWER + success(BIG))


def test_plain_content_passes_through_smudge(tmp_path):
    answer = serve(tmp_path, HANDSHAKE + request("smudge", "plain.txt", b"not a pointer\n"))
    assert answer == HANDSHAKE_ANSWER + success(b"not a pointer\n")


def test_error_mid_smudge_ends_content_then_says_error(tmp_path):
    pointer_text = pointer_of(BIG, tmp_path)
    serve(tmp_path, HANDSHAKE + request("clean", "big.bin", BIG))
    pointer = parse_pointer(pointer_text, "big.bin")
    with Store(tmp_path / "store") as store:
        ids = store.require(pointer).chunk_list()
        last = store.index.chunk_locations([ids[-1]])[ids[-1]]
    pack = tmp_path / "store" / "packs" / last.pack
    with open(pack, "r+b") as f:  # damage the last chunk: the first ones stream before it is found
        f.seek(last.offset + last.stored_len // 2)
        f.write(b"\xff" * 16)
    answer = serve(tmp_path, HANDSHAKE + request("smudge", "big.bin", pointer_text) + request("smudge", "p.txt", b"plain\n"))
    body = answer[len(HANDSHAKE_ANSWER) :]
    assert body.startswith(pkt(b"status=success\n") + FLUSH)
    assert body.endswith(FLUSH + ERROR + success(b"plain\n"))  # content ended, error, next path served
    assert len(body) < len(success(BIG))


def test_unknown_command_answers_error_and_keeps_serving(tmp_path):
    answer = serve(tmp_path, HANDSHAKE + request("frobnicate", "x", b"abc") + request("smudge", "y", b"y\n"))
    assert answer == HANDSHAKE_ANSWER + ERROR + success(b"y\n")


def test_eof_after_handshake_ends_cleanly(tmp_path):
    assert serve(tmp_path, HANDSHAKE) == HANDSHAKE_ANSWER


def test_a_bug_on_one_path_answers_error_logs_a_crash_and_serves_the_next(tmp_path, capfd):
    def broken_store() -> StoreOnly:
        raise RuntimeError("a bug in opening the store")

    (tmp_path / ".git").mkdir()  # not a repository: the crash log goes to the temp folder instead
    big = b"x" * 2_000_000  # streams through the store, so the bug strikes mid-content
    answer = serve(tmp_path, HANDSHAKE + request("clean", "big.bin", big) + request("smudge", "y", b"y\n"), broken_store)
    assert answer == HANDSHAKE_ANSWER + ERROR + success(b"y\n")
    err = capfd.readouterr().err
    assert "big.bin" in err and "RuntimeError: a bug in opening the store" in err and err.count("\n") == 1
    log = Path(err.split("details in ")[1].split(";")[0])
    assert "Traceback" in log.read_text() and "branchml:" in log.read_text() and "git:" in log.read_text()


def test_truncated_stream_is_a_protocol_error(tmp_path):
    with pytest.raises(ProtocolError):
        serve(tmp_path, HANDSHAKE + pkt(b"command=clean\n")[:-3])


# -- the protocol alone (git/filterproto.py): no store, a handler of a few lines ------------------


def converse(stdin: bytes, handle) -> tuple[bytes, list[str]]:
    """Run FilterProtocol over `stdin` with `handle`; return what it wrote and the failures it reported."""
    out, failures = io.BytesIO(), []
    protocol = FilterProtocol(PacketReader(io.BytesIO(stdin)), PacketWriter(out))
    protocol.serve(handle, lambda request, exc: failures.append(f"{request.path}: {exc}"))
    return out.getvalue(), failures


def upper(request: Request, reply: Reply) -> None:
    reply.success(request.content.fill(1 << 30).upper())


def test_protocol_answers_each_request_with_its_handler(tmp_path):
    answer, failures = converse(HANDSHAKE + request("clean", "a", b"abc") + request("smudge", "b", b"x" * 70_000), upper)
    assert frames(answer) == frames(HANDSHAKE_ANSWER + success(b"ABC") + success(b"X" * 70_000))
    assert failures == []


def test_protocol_announces_only_capabilities_git_offers():
    only_clean = pkt(b"git-filter-client\n") + pkt(b"version=2\n") + FLUSH + pkt(b"capability=clean\n") + FLUSH
    answer, _ = converse(only_clean, upper)
    assert answer == pkt(b"git-filter-server\n") + pkt(b"version=2\n") + FLUSH + pkt(b"capability=clean\n") + FLUSH


def test_protocol_refuses_a_handshake_that_is_not_version_2():
    with pytest.raises(ProtocolError, match="handshake"):
        converse(pkt(b"git-filter-client\n") + pkt(b"version=1\n") + FLUSH, upper)


def test_protocol_ends_started_content_before_an_error_and_skips_unread_content():
    def half(request: Request, reply: Reply) -> None:
        reply.begin()
        reply.write(request.content.fill(3)[:3])  # 3 bytes of a longer content, then a failure
        raise OSError("disk gone")

    answer, failures = converse(HANDSHAKE + request("smudge", "a", b"abcdef" * 20_000) + request("clean", "b", b"b"), half)
    assert answer == HANDSHAKE_ANSWER + pkt(b"status=success\n") + FLUSH + pkt(b"abc") + FLUSH + ERROR + pkt(b"status=success\n") + FLUSH + pkt(b"b") + FLUSH + ERROR
    assert failures == ["a: disk gone", "b: disk gone"]


def test_protocol_answers_error_for_a_handler_that_forgets_to_answer():
    answer, failures = converse(HANDSHAKE + request("clean", "a", b"abc"), lambda request, reply: None)
    assert answer == HANDSHAKE_ANSWER + ERROR
    assert failures == ["a: the filter gave no answer for a"]


def test_a_reply_cannot_answer_twice():
    reply = Reply(PacketWriter(io.BytesIO()))
    reply.success(b"x")
    with pytest.raises(ProtocolError, match="second answer"):
        reply.error()
