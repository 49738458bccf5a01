"""A real OpenSSH server on loopback for the tests (SFTP blob remotes, ssh:// Git remotes).

Debian's openssh-server (`.ci/run` installs it) is started as the current user, in a temporary
folder, with a fresh host key, one authorised client key, on a free port of 127.0.0.1. Nothing
of the machine's own ssh set-up is read or written: the server gets its own config file, and
clients get a home of their own (`Sshd.home`, holding `.ssh/id_ed25519` and `.ssh/known_hosts`
with this server's key) plus `Sshd.ssh_command` for Git's `GIT_SSH_COMMAND` (OpenSSH's client
takes `~` from the password database, not $HOME, so Git needs the files named).

Use it from a test module (one server per module keeps the suite quick):

    from sshd_support import sshd  # noqa: F401  (the module-scoped fixture)

    def test_x(sshd, monkeypatch):
        monkeypatch.setenv("HOME", str(sshd.home))              # paramiko: ~/.ssh of the server's client
        monkeypatch.setenv("GIT_SSH_COMMAND", sshd.ssh_command)  # git over ssh://
        url = sshd.url(tmp_path / "blobs")                      # ssh://user@127.0.0.1:PORT/abs/path

The fixture skips (with the reason) when sshd is not installed or cannot start.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = shutil.which("sshd") or next((p for p in ("/usr/sbin/sshd", "/usr/local/sbin/sshd") if os.access(p, os.X_OK)), None)
HOST = "127.0.0.1"


@dataclass
class Sshd:
    root: Path  # the server's folder: config, host key, authorised keys, log
    home: Path  # a client home: .ssh/id_ed25519 (authorised) and .ssh/known_hosts (this server's key)
    port: int
    user: str
    process: subprocess.Popen[bytes]

    @property
    def client_key(self) -> Path:
        return self.home / ".ssh" / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.home / ".ssh" / "known_hosts"

    @property
    def host_key(self) -> Path:
        return self.root / "host_ed25519"

    def url(self, path: Path | str, scheme: str = "ssh") -> str:
        """`ssh://user@127.0.0.1:PORT/absolute/path` (scheme `sftp` works the same for blob remotes)."""
        return f"{scheme}://{self.user}@{HOST}:{self.port}{Path(path).resolve()}"

    @property
    def ssh_command(self) -> str:
        """For GIT_SSH_COMMAND: this client key and known_hosts only, never the machine's own, never
        accepting an unknown or changed host key."""
        return (f"ssh -F /dev/null -i {self.client_key} -o IdentitiesOnly=yes -o BatchMode=yes "
                f"-o UserKnownHostsFile={self.known_hosts} -o StrictHostKeyChecking=yes -p {self.port}")

    def known_hosts_line(self) -> str:
        """This server's entry for known_hosts (OpenSSH writes a non-22 port as `[host]:port`)."""
        kind, key = self.host_key.with_suffix(".pub").read_text().split()[:2]
        return f"[{HOST}]:{self.port} {kind} {key}\n"

    def change_host_key(self) -> None:
        """Restart the server with a new host key (what a client sees when a server is replaced or an
        attacker sits in between); the clients' known_hosts keeps the old one."""
        self.stop()
        self.host_key.unlink()
        self.host_key.with_suffix(".pub").unlink()
        _keygen(self.host_key)
        self.process = _start(self.root, self.port)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "branchml-test", "-f", str(path)],
                   check=True, capture_output=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _config(root: Path, port: int) -> Path:
    """sshd_config of a server that accepts the current user by key only, with SFTP in-process."""
    path = root / "sshd_config"
    path.write_text(
        f"Port {port}\nListenAddress {HOST}\nHostKey {root / 'host_ed25519'}\nPidFile {root / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {root / 'authorized_keys'}\n"
        "StrictModes no\n"  # the temp folder's parents are world-writable (/tmp)
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\nUsePAM no\n"
        f"AllowUsers {getpass.getuser()}\nPermitRootLogin prohibit-password\n"
        "Subsystem sftp internal-sftp\nLogLevel VERBOSE\nMaxStartups 50\nMaxSessions 50\n"
    )
    return path


def _start(root: Path, port: int) -> subprocess.Popen[bytes]:
    """sshd in the foreground (-D), logging to a file (-E); returns once it answers with its banner."""
    assert SSHD is not None
    log = root / "sshd.log"
    proc = subprocess.Popen([SSHD, "-D", "-f", str(_config(root, port)), "-E", str(log)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = (proc.stderr.read() if proc.stderr else b"").decode(errors="replace")
            raise RuntimeError(f"sshd exited {proc.returncode}: {err}{log.read_text() if log.exists() else ''}")
        try:
            with socket.create_connection((HOST, port), timeout=1) as conn:
                if conn.recv(64).startswith(b"SSH-"):
                    return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"sshd did not answer on {HOST}:{port} within 15 s")


def _check_login(server: Sshd) -> None:
    """One login with the client key: sshd refuses some accounts (a locked password, without PAM),
    and the tests should then skip saying so, not fail."""
    probe = subprocess.run([*server.ssh_command.split(), HOST, "true"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        server.stop()
        log = (server.root / "sshd.log").read_text(errors="replace")
        why = [line for line in log.splitlines() if "not allowed" in line or "refused" in line.lower()]
        raise RuntimeError(f"sshd started but refused {server.user}'s key login: "
                           f"{'; '.join(why) or probe.stderr.decode(errors='replace').strip()}")


def start_sshd(root: Path) -> Sshd:
    """A server in `root` (created), or RuntimeError saying why it could not start."""
    if SSHD is None or shutil.which("ssh-keygen") is None:
        raise RuntimeError("openssh-server is not installed (`apt-get install openssh-server`, as .ci/run does)")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # root's sshd needs its privilege-separation dir
    home = root / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh").chmod(0o700)
    server = root / "server"
    server.mkdir()
    _keygen(server / "host_ed25519")
    _keygen(home / ".ssh" / "id_ed25519")
    shutil.copy(home / ".ssh" / "id_ed25519.pub", server / "authorized_keys")
    last: Exception | None = None
    for _ in range(5):  # a free port can be taken between our probe and sshd's bind
        port = _free_port()
        try:
            proc = _start(server, port)
        except RuntimeError as exc:
            last = exc
            continue
        found = Sshd(server, home, port, getpass.getuser(), proc)
        found.known_hosts.write_text(found.known_hosts_line())
        _check_login(found)
        return found
    raise RuntimeError(f"sshd could not start: {last}")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """One OpenSSH server per test module (see the module docstring); skipped when it cannot start."""
    try:
        server = start_sshd(tmp_path_factory.mktemp("sshd"))
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"no sshd on loopback: {exc}")
    yield server
    server.stop()
