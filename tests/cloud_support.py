"""Object-store emulators on loopback for the remote tests: Azurite (Azure Blob) and a GCS emulator.

Each fixture starts its server once per test module on a free port of 127.0.0.1, puts what the
client library reads into the environment (the subprocesses the tests start inherit it), creates
the test container or bucket, and yields an fsspec file system on it. It skips with the reason
when the emulator is not installed or does not start (`.ci/run` installs both).

- Azurite: the npm package, installed by `.ci/run` under ~/.cache/branchml-ci/npm (outside the
  repository), or `azurite-blob` on PATH, or the path in $BRANCHML_AZURITE. Its account
  `devstoreaccount1` and key are Azurite's published development credentials, not secrets.
- GCS: `gcp-storage-emulator` (PyPI, the `test` extra), in memory. It speaks JSON over HTTP only,
  so gcsfs's experimental gRPC bucket probe is switched off (GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT).
"""

from __future__ import annotations

import importlib.util
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import bml, git
from remote_support import (
    commit_all,
    digests,
    no_wrong_bytes,
    project,
    push_and_drop_a_branch,
    write_random,
)

CONTAINER = "branchml-test"
CI_CACHE = Path(pwd.getpwuid(os.getuid()).pw_dir) / ".cache" / "branchml-ci"  # not $HOME: tests change it
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(proc: subprocess.Popen[bytes], port: int, what: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within 30 s")


class Server:
    """A started emulator process and the environment it needs; `stop` ends both."""

    def __init__(self, args: list[str], env: dict[str, str], root: Path, what: str, port: int) -> None:
        self.log = root / f"{what}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=root)
        try:
            wait_for_port(self.proc, port, what, self.log)
        except RuntimeError:
            self.proc.wait()
            raise
        self.saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def azurite_command() -> str | None:
    found = os.environ.get("BRANCHML_AZURITE") or shutil.which("azurite-blob")
    cached = CI_CACHE / "npm" / "node_modules" / ".bin" / "azurite-blob"
    return found or (str(cached) if cached.exists() else None)


def start_azurite(root: Path) -> Server:
    command = azurite_command()
    if command is None:
        raise RuntimeError(f"Azurite is not installed (`npm install --prefix {CI_CACHE / 'npm'} azurite`, as .ci/run does)")
    port = free_port()
    args = [command, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence", "--skipApiVersionCheck", "--silent"]
    conn = (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;")
    return Server(args, {"AZURE_STORAGE_CONNECTION_STRING": conn}, root, "azurite", port)


def start_gcs(root: Path) -> Server:
    if shutil.which("gcp-storage-emulator") is None:
        raise RuntimeError("gcp-storage-emulator is not installed (`pip install gcp-storage-emulator`, in the test extra)")
    port = free_port()
    args = [sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory"]
    env = {"STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{port}", "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}
    return Server(args, env, root, "gcs-emulator", port)


def _serve(start: Any, root: Path, protocol: str) -> Iterator[Any]:
    try:
        server = start(root)
    except (RuntimeError, OSError) as exc:
        pytest.skip(f"no {protocol} emulator on loopback: {exc}")
    try:
        import fsspec

        fs = fsspec.filesystem(protocol, skip_instance_cache=True)
        fs.mkdir(CONTAINER)
        yield fs
    finally:
        server.stop()


def _need(package: str, extra: str) -> None:
    """Skip without importing: gcsfs reads its settings from the environment at import."""
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed (the `{extra}` extra)")


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Azure Blob (Azurite) on loopback: an adlfs file system with container `branchml-test`."""
    _need("adlfs", "azure")
    yield from _serve(start_azurite, tmp_path_factory.mktemp("azurite"), "az")


@pytest.fixture(scope="module")
def gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """GCS (gcp-storage-emulator) on loopback: a gcsfs file system with bucket `branchml-test`."""
    _need("gcsfs", "gcs")
    yield from _serve(start_gcs, tmp_path_factory.mktemp("gcs"), "gs")


# -- the round trips every object-store remote must pass (S3's are in test_remote_s3.py) ----------

def new_url(protocol: str) -> str:
    return f"{protocol}://{CONTAINER}/{uuid.uuid4().hex[:8]}"


def push_clone_fetch_verify(tmp_path: Path, url: str, fs: Any) -> None:
    """Push two branches, clone (checkout fetched on demand), fetch the other branch in batches,
    switch to it with the network gone from the equation, and verify the remote holds it all."""
    src = project(tmp_path, url)
    write_random(src / "data" / "train.bin", 1_000_000, 41)
    commit_all(src, "data")
    git(src, "switch", "-qc", "stable/acme")
    write_random(src / "models" / "model.bin", 300_000, 42)
    commit_all(src, "model")
    on_acme = digests(src)
    git(src, "push", "-q", "origin", "main", "stable/acme")
    push_and_drop_a_branch(src)
    prefix = url.split("://", 1)[1]
    assert fs.ls(f"{prefix}/packs") and fs.ls(f"{prefix}/indexes")

    copy = tmp_path / "copy"
    bml(tmp_path, "clone", str(tmp_path / "proj-server.git"), str(copy))
    fetched = json.loads(bml(copy, "fetch", "--json", "origin/stable/acme").stdout)
    assert fetched["files"] >= 1 and fetched["bytes"] > 0
    git(copy, "switch", "-q", "stable/acme")
    assert digests(copy) == on_acme
    assert bml(copy, "fsck", "--read-data", "--all").returncode == 0
    assert json.loads(bml(copy, "verify-remote", "--json", "stable/acme").stdout)["missing"] == []
    gc = json.loads(bml(copy, "remote", "gc", "--grace", "0", "--json").stdout)  # lock, ages, listing
    assert gc["deleted_packs"] >= 1 and gc["rewritten_packs"] == 0  # the dropped branch's pack(s)
    assert json.loads(bml(copy, "verify-remote", "--json", "stable/acme").stdout)["missing"] == []
    assert not fs.exists(f"{prefix}/locks/gc.lock")


def corrupt_object_is_refused(tmp_path: Path, url: str, fs: Any) -> None:
    """A pack whose bytes changed on the remote: the clone fails naming the mismatch, writes no wrong byte."""
    src = project(tmp_path, url)
    write_random(src / "data" / "a.bin", 400_000, 43)
    commit_all(src, "data")
    git(src, "push", "-q", "origin", "main")
    pack = fs.ls(f"{url.split('://', 1)[1]}/packs")[0]
    bad = bytearray(fs.cat_file(pack))
    bad[len(bad) // 2] ^= 0x40
    fs.pipe_file(pack, bytes(bad))
    proc = bml(tmp_path, "clone", str(tmp_path / "proj-server.git"), str(tmp_path / "c1"), check=False)
    assert proc.returncode != 0 and "does not match" in proc.stderr.decode(), proc.stderr.decode()
    assert no_wrong_bytes(tmp_path / "c1" / "data" / "a.bin")
