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

from branchml import config
from branchml.errors import BranchmlError, ExitCode

SAFE_PROTOCOLS = {"file", "local", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "ssh", "sftp"}
OBJECT_STORES = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"}
SAFE_OPTIONS = {"url", "region", "pack_size", "anon", "jobs"}
OWN_OPTIONS = {"url", "pack_size", "jobs"}  # branchml's own keys, not passed to fsspec
CREDENTIAL_WORDS = ("secret", "password", "token", "key_id", "access_key", "credential")
CONSENT_TABLE = "remote-consent"
DEFAULT_PACK_SIZE = 64 << 20
DEFAULT_JOBS = 8


class RemoteConfigError(BranchmlError):
    exit_code = ExitCode.REMOTE_CONFIG


@dataclass(frozen=True)
class RemoteSpec:
    name: str
    url: str
    options: dict = field(default_factory=dict)

    @property
    def protocol(self) -> str:
        return protocol_of(self.url)

    @property
    def pack_size(self) -> int:
        return int(self.options.get("pack_size", DEFAULT_PACK_SIZE))

    @property
    def jobs(self) -> int:
        return max(1, int(self.options.get("jobs", DEFAULT_JOBS)))

    def storage_options(self) -> dict:
        """Options for fsspec: ours removed, the S3 endpoint from the standard variables if unset."""
        opts = {k: v for k, v in self.options.items() if k not in OWN_OPTIONS}
        if self.protocol in ("s3", "s3a") and "endpoint_url" not in opts:
            endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
            if endpoint:
                opts["endpoint_url"] = endpoint
        if "region" in opts and self.protocol in ("s3", "s3a"):
            opts.setdefault("client_kwargs", {})["region_name"] = opts.pop("region")
        return opts


def protocol_of(url: str) -> str:
    if "::" in url:
        return "chained"
    if "://" not in url:
        return "file"
    return url.split("://", 1)[0].lower()


def local_path(store_dir: Path) -> Path:
    return store_dir / "local.toml"


def committed_text(repo) -> str | None:
    """branchml.toml of the work tree, else of HEAD (bare repos, clones before checkout)."""
    if repo.root is not None and (repo.root / config.FILE_NAME).exists():
        return (repo.root / config.FILE_NAME).read_text(encoding="utf-8")
    out = repo.git(["cat-file", "blob", f"HEAD:{config.FILE_NAME}"], check=False)
    return out.decode("utf-8", "replace") if out else None


def load_remotes(repo, committed: str | None = None, *, use_worktree: bool = True) -> list[RemoteSpec]:
    """Every usable remote, local ones first; committed ones checked against the trust rules."""
    if committed is None and use_worktree:
        committed = committed_text(repo)
    shared = config.parse_toml(committed, config.FILE_NAME).get("remotes", {}) if committed else {}
    local = config.read_toml(local_path(repo.store_dir))
    mine = local.get("remotes", {})
    consent = local.get(CONSENT_TABLE, {})
    specs = []
    for name, table in mine.items():
        merged = {**shared.get(name, {}), **table}
        specs.append(_spec(name, merged, "local.toml"))
    for name, table in shared.items():
        if name not in mine:
            specs.append(_spec(name, _trusted(name, table, consent.get(name, {})), config.FILE_NAME))
    return specs


def _spec(name: str, table: dict, where: str) -> RemoteSpec:
    url = table.get("url")
    if not isinstance(url, str) or not url:
        raise RemoteConfigError(f"{where}: [remotes.{name}] has no url", hint=f"run `branchml remote add {name} URL`")
    _refuse_credentials(name, table, where)
    return RemoteSpec(name, url, {k: v for k, v in table.items() if k != "url"})


def _refuse_credentials(name: str, table: dict, where: str) -> None:
    for key in table:
        if any(word in key.lower() for word in CREDENTIAL_WORDS):
            raise RemoteConfigError(
                f"{where}: [remotes.{name}] holds a credential ({key}); branchml never reads credentials from files",
                hint="remove it and use the environment (e.g. AWS_ACCESS_KEY_ID) or your tool's own config",
            )


def _trusted(name: str, table: dict, consent: dict) -> dict:
    """The committed table, refusing what needs consent and has none (for this exact value)."""
    _refuse_credentials(name, table, config.FILE_NAME)
    url = table.get("url", "")
    if isinstance(url, str) and protocol_of(url) not in SAFE_PROTOCOLS:
        if consent.get("url") != url:
            raise _needs_consent(name, "url", url)
    for key, value in table.items():
        if key not in SAFE_OPTIONS and consent.get(key) != value:
            raise _needs_consent(name, key, value)
    return table


def _needs_consent(name: str, key: str, value) -> RemoteConfigError:
    return RemoteConfigError(
        f"branchml.toml: remote {name!r} sets {key} = {value!r}, which could redirect traffic or run code; "
        "it is not honoured without your consent",
        hint=f"if you trust it, run `branchml remote trust {name}` (or set the remote in .git/branchml/local.toml)",
    )


def choose(specs: list[RemoteSpec], name: str | None = None) -> RemoteSpec:
    """The remote called `name`, else `origin`, else the first one."""
    if not specs:
        raise RemoteConfigError("no blob remote is configured", hint="run `branchml remote add origin URL`")
    if name is None:
        return next((s for s in specs if s.name == "origin"), specs[0])
    for spec in specs:
        if spec.name == name:
            return spec
    known = ", ".join(s.name for s in specs)
    raise RemoteConfigError(f"no blob remote named {name!r} (configured: {known})", hint="see `branchml remote list`")
