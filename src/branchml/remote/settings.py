"""Which blob remotes a repository has, and which of their settings may be honoured.

Remotes live in the committed branchml.toml (`[remotes.NAME] url = ...` plus options) so a clone
knows where its blobs are, or in the uncommitted `<common dir>/branchml/local.toml` (trusted).
The committed file arrives from other people's branches, so from it we honour only plain storage
URLs and options that cannot redirect traffic or run code. Any other committed option (for example
`endpoint_url`, which would send credentials to another server) needs the user's consent, bound to
its exact value: `[remote-consent.NAME]` in local.toml, written by `branchml remote add` and
`branchml remote trust`. Credentials never belong in either file: they come from the environment
or the user's own tool config (~/.aws, ~/.ssh).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from branchml import config
from branchml.errors import BranchmlError, ExitCode
from branchml.git import plumbing
from branchml.remote import source
from branchml.repo import Repo

SAFE_PROTOCOLS = {"file", "local", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "ssh", "sftp"}
OBJECT_STORES = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"}
SAFE_OPTIONS = {"url", "region", "pack_size", "anon", "jobs", "connect_timeout", "read_timeout"}
OWN_OPTIONS = {"url", "pack_size", "jobs", "connect_timeout", "read_timeout"}  # branchml's own keys, not passed to fsspec
CREDENTIAL_WORDS = ("secret", "password", "token", "key_id", "access_key", "credential")
CONSENT_TABLE = "remote-consent"
GIT_REMOTE_KEY = "git_remote"  # set only on the default spec built by `git_default`, never read from a file
GIT_NAMESPACE_MARK = "#refs/branchml"
DEFAULT_PACK_SIZE = 64 << 20
DEFAULT_JOBS = 8
# Every request to a remote gives up after these many seconds without a connection / an answer, so a
# hung endpoint ends in an error naming the remote instead of a silent wait (each request is tried
# at most RETRIES times: by s3fs, botocore's own retries are off).
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0
RETRIES = 2


class RemoteConfigError(BranchmlError):
    exit_code = ExitCode.REMOTE_CONFIG


@dataclass(frozen=True)
class RemoteSpec:
    name: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)
    committed_keys: frozenset[str] = frozenset()  # options that came from branchml.toml
    ignored: tuple[str, ...] = ()  # committed keys not honoured until trusted

    @property
    def protocol(self) -> str:
        return "git" if self.is_git else protocol_of(self.url)

    @property
    def is_git(self) -> bool:
        """The Git remote itself as blob store (remote/gitrefs.py), not an fsspec URL."""
        return GIT_REMOTE_KEY in self.options

    @property
    def pack_size(self) -> int:
        return int(self.options.get("pack_size", DEFAULT_PACK_SIZE))

    @property
    def jobs(self) -> int:
        return max(1, int(self.options.get("jobs", DEFAULT_JOBS)))

    @property
    def connect_timeout(self) -> float:
        return self._seconds("connect_timeout", DEFAULT_CONNECT_TIMEOUT)

    @property
    def read_timeout(self) -> float:
        return self._seconds("read_timeout", DEFAULT_READ_TIMEOUT)

    def _seconds(self, key: str, default: float) -> float:
        value = self.options.get(key, default)
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            seconds = -1.0
        if not seconds > 0:
            raise RemoteConfigError(f"remote {self.name!r}: {key} = {value!r} is not a number of seconds above 0",
                                    hint=f"set it with `branchml remote add {self.name} URL --option {key}=30`")
        return seconds

    def storage_options(self) -> dict[str, Any]:
        """Options for fsspec: ours removed, the S3 endpoint from the standard variables if unset, timeouts set."""
        opts = {k: v for k, v in self.options.items() if k not in OWN_OPTIONS}
        self._timeouts(opts)
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        own_endpoint = "endpoint_url" in opts and "endpoint_url" not in self.committed_keys
        if self.protocol in ("s3", "s3a") and endpoint and not own_endpoint:
            opts["endpoint_url"] = endpoint  # the user's environment wins over committed values
        if "region" in opts and self.protocol in ("s3", "s3a"):
            opts.setdefault("client_kwargs", {})["region_name"] = opts.pop("region")
        return opts

    def _timeouts(self, opts: dict[str, Any]) -> None:
        """Connect and read timeouts in each transport's own terms (a local folder needs none; other
        object stores keep their library's defaults)."""
        connect, read = self.connect_timeout, self.read_timeout
        if self.protocol in ("s3", "s3a"):
            botocore = opts.setdefault("config_kwargs", {})
            botocore.setdefault("connect_timeout", connect)
            botocore.setdefault("read_timeout", read)
            botocore.setdefault("retries", {"max_attempts": 1, "mode": "standard"})  # s3fs retries (RETRIES)
        # ssh/sftp: remote/sftp.py gives paramiko both limits in its own terms


def protocol_of(url: str) -> str:
    if "::" in url:
        return "chained"
    if "://" not in url:
        return "file"
    return url.split("://", 1)[0].lower()


def local_path(store_dir: Path) -> Path:
    return store_dir / "local.toml"


def committed_text(repo: Repo) -> str:
    """The committed branchml.toml that counts for remotes: the settings branch's (remote/source.py)."""
    return source.shared_settings(repo).text


@dataclass
class Remotes:
    """The usable remotes (local ones first), and why any other configured remote is unusable."""

    specs: list[RemoteSpec]
    problems: dict[str, RemoteConfigError] = field(default_factory=dict)
    where: str = config.FILE_NAME

    def choose(self, name: str | None = None) -> RemoteSpec:
        if name is not None and name in self.problems:
            raise self.problems[name]
        if name is None and not self.specs and self.problems:
            raise next(iter(self.problems.values()))
        return choose(self.specs, name, self.where)


def load(repo: Repo, committed: str | None = None) -> Remotes:
    """local.toml, then the committed settings (the settings branch's, or `committed` if given).

    A remote named in local.toml is the user's own: its local values are used as they are, and
    the committed table of the same name adds only what is safe or consented (the bypass the
    issue 12 tests: a committed endpoint_url must not ride on a trusted local remote)."""
    where = config.FILE_NAME
    if committed is None:
        shared_settings = source.shared_settings(repo)
        committed, where = shared_settings.text, shared_settings.where
    shared = config.parse_toml(committed, where).get("remotes", {}) if committed else {}
    local = config.read_toml(local_path(repo.store_dir))
    mine, consent = local.get("remotes", {}), local.get(CONSENT_TABLE, {})
    out = Remotes([], where=where)
    for name in dict.fromkeys([*mine, *shared]):
        try:
            out.specs.append(_combine(name, mine.get(name), shared.get(name), consent.get(name, {}), where))
        except RemoteConfigError as exc:
            out.problems[name] = exc
    if not out.specs and not out.problems:
        default = git_default(repo)
        out.specs += [default] if default is not None else []
    return out


def git_default(repo: Repo) -> RemoteSpec | None:
    """The blob remote used when none is configured: the Git remote itself (refs/branchml/*).

    The Git remote that backs the settings branch (`origin` unless `branchml.settingsRemote` says
    otherwise), else the only Git remote; with none, a bare repository is its own (a server; its
    pre-receive hook always checks itself), a clone has none."""
    names = plumbing.remote_names(repo.cwd)
    wanted = source.settings_remote(repo)
    name = wanted if wanted in names else (names[0] if len(names) == 1 else None)
    if name is None:
        return this_repository(repo) if repo.root is None else None
    return git_remote_spec(repo, name)


def this_repository(repo: Repo) -> RemoteSpec:
    """The repository's own refs/branchml/ as blob remote (on the server)."""
    return git_spec(".", str(repo.common_dir))


def git_remote_spec(repo: Repo, git_remote: str) -> RemoteSpec:
    """Git remote `git_remote` of this clone (a name or a URL) as blob remote, configured or not
    (for `remote migrate` from the Git remote to an object store, say)."""
    return git_spec(git_remote, plumbing.remote_url(repo.cwd, git_remote) or git_remote)


def git_spec(git_remote: str, url: str) -> RemoteSpec:
    """The Git remote `git_remote` (a name or a URL; "." is this repository) as blob remote."""
    name = "this-repository" if git_remote == "." else git_remote
    return RemoteSpec(name, url + GIT_NAMESPACE_MARK, {GIT_REMOTE_KEY: "" if git_remote == "." else git_remote})


def load_remotes(repo: Repo, committed: str | None = None) -> list[RemoteSpec]:
    """Every usable remote, local ones first (see `load`)."""
    return load(repo, committed).specs


def _combine(name: str, mine: dict[str, Any] | None, shared: dict[str, Any] | None, consent: dict[str, Any], where: str) -> RemoteSpec:
    honoured, ignored = _honoured(name, shared or {}, consent, where)
    mine = mine or {}
    _refuse_credentials(name, mine, "local.toml")
    if "url" in ignored and "url" not in mine:
        raise _needs_consent(name, "url", ignored["url"], where)
    spec = parse_spec(name, {**honoured, **mine}, "local.toml" if mine else where)  # the user's own values win
    return RemoteSpec(spec.name, spec.url, spec.options, frozenset(k for k in honoured if k not in mine),
                      tuple(k for k in ignored if k not in mine))


def _honoured(name: str, table: dict[str, Any], consent: dict[str, Any], where: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a committed table into what is honoured (safe, or consented with this exact value)
    and what is ignored until `branchml remote trust NAME`."""
    _refuse_credentials(name, table, where)
    honoured, ignored = {}, {}
    for key, value in table.items():
        if _is_safe(key, value) or (key in consent and consent[key] == value):
            honoured[key] = value
        else:
            ignored[key] = value
    return honoured, ignored


def _is_safe(key: str, value: Any) -> bool:
    if key == "url":
        return isinstance(value, str) and protocol_of(value) in SAFE_PROTOCOLS
    return key in SAFE_OPTIONS


def needs_consent(table: dict[str, Any]) -> dict[str, Any]:
    """The keys of a committed table that are honoured only with consent."""
    return {k: v for k, v in table.items() if not _is_safe(k, v)}


def parse_spec(name: str, table: dict[str, Any], where: str) -> RemoteSpec:
    url = table.get("url")
    if not isinstance(url, str) or not url:
        raise RemoteConfigError(f"{where}: [remotes.{name}] has no url", hint=f"run `branchml remote add {name} URL`")
    _refuse_credentials(name, table, where)
    return RemoteSpec(name, url, {k: v for k, v in table.items() if k != "url"})


def _refuse_credentials(name: str, table: dict[str, Any], where: str) -> None:
    for key in table:
        if any(word in key.lower() for word in CREDENTIAL_WORDS):
            raise RemoteConfigError(
                f"{where}: [remotes.{name}] holds a credential ({key}); branchml never reads credentials from files",
                hint="remove it and use the environment (e.g. AWS_ACCESS_KEY_ID) or your tool's own config",
            )


def _needs_consent(name: str, key: str, value: Any, where: str = config.FILE_NAME) -> RemoteConfigError:
    return RemoteConfigError(
        f"{where}: remote {name!r} sets {key} = {value!r}, which could redirect traffic or run code; "
        "it is not honoured without your consent",
        hint=f"if you trust it, run `branchml remote trust {name}` (or set the remote in .git/branchml/local.toml)",
    )


def ignored_warning(spec: RemoteSpec) -> str | None:
    """One line naming the committed values this remote does not use until trusted."""
    if not spec.ignored:
        return None
    keys = ", ".join(spec.ignored)
    return (f"branchml: warning: blob remote {spec.name!r}: committed {keys} ignored until you consent "
            f"(`branchml remote trust {spec.name}` shows the values)")


def push_policy(repo: Repo, committed: str | None = None) -> str:
    """What a push does when no blob remote takes its pointers' content: "refuse" (default) or "warn".

    `[push] without_blob_remote` in local.toml, else in the settings branch's branchml.toml (or
    in `committed`, the text the server goes by)."""
    local = config.read_toml(local_path(repo.store_dir)).get("push", {}).get("without_blob_remote")
    if committed is None:
        shared = source.shared_settings(repo).table
    else:
        shared = config.parse_toml(committed, config.FILE_NAME) if committed else {}
    value = local or shared.get("push", {}).get("without_blob_remote")
    return "warn" if value == "warn" else "refuse"


def choose(specs: list[RemoteSpec], name: str | None = None, where: str = config.FILE_NAME) -> RemoteSpec:
    """The remote called `name`, else `origin`, else the first one."""
    if not specs:
        raise RemoteConfigError(
            f"no blob remote is configured (none in .git/branchml/local.toml, none in {where})",
            hint="on main: `branchml remote add origin URL`, commit branchml.toml and push main "
            "(or `branchml remote add origin URL --local` for this clone only)",
        )
    if name is None:
        return next((s for s in specs if s.name == "origin"), specs[0])
    for spec in specs:
        if spec.name == name:
            return spec
    known = ", ".join(s.name for s in specs)
    raise RemoteConfigError(f"no blob remote named {name!r} (configured: {known})", hint="see `branchml remote list`")
