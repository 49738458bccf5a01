"""Which committed remote settings are honoured: consent bound to values, no credentials in files."""

from __future__ import annotations

import pytest

from conftest import bml
from branchml.remote import api, settings
from branchml.remote.settings import RemoteConfigError
from branchml.repo import Repo


def write_committed(repo_path, body: str) -> None:
    (repo_path / "branchml.toml").write_text("[branchml]\nversion = 1\n\n" + body)


def test_committed_endpoint_is_refused_until_trusted_and_again_when_it_changes(repo):
    write_committed(repo, '[remotes.origin]\nurl = "s3://bucket/p"\nendpoint_url = "http://10.0.0.1:9000"\n')
    r = Repo.find(repo)
    with pytest.raises(RemoteConfigError, match="remote trust origin"):
        settings.load_remotes(r)
    api.trust_remote(r, "origin")
    (spec,) = settings.load_remotes(r)
    assert spec.storage_options()["endpoint_url"] == "http://10.0.0.1:9000"
    write_committed(repo, '[remotes.origin]\nurl = "s3://bucket/p"\nendpoint_url = "http://evil.example:80"\n')
    with pytest.raises(RemoteConfigError, match="endpoint_url"):
        settings.load_remotes(r)


def test_plain_urls_and_safe_options_need_no_consent_and_env_gives_the_endpoint(repo, monkeypatch):
    write_committed(repo, '[remotes.origin]\nurl = "s3://bucket/p"\nregion = "eu-west-1"\npack_size = 1048576\n')
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9999")
    (spec,) = settings.load_remotes(Repo.find(repo))
    assert spec.pack_size == 1 << 20
    opts = spec.storage_options()
    assert opts["endpoint_url"] == "http://127.0.0.1:9999" and opts["client_kwargs"]["region_name"] == "eu-west-1"
    assert "pack_size" not in opts


def test_unknown_protocols_need_consent_and_credentials_are_refused_everywhere(repo):
    write_committed(repo, '[remotes.web]\nurl = "http://example.com/blobs"\n')
    with pytest.raises(RemoteConfigError, match="url"):
        settings.load_remotes(Repo.find(repo))
    write_committed(repo, '[remotes.origin]\nurl = "s3://b/p"\naws_secret_access_key = "x"\n')
    with pytest.raises(RemoteConfigError, match="credential"):
        settings.load_remotes(Repo.find(repo))
    proc = bml(repo, "remote", "add", "other", "s3://b/q", "--option", "password=hunter2", check=False)
    assert proc.returncode != 0 and "credential" in proc.stderr.decode()
    assert "hunter2" not in (repo / "branchml.toml").read_text()


def test_remote_add_list_remove_round_trip(repo, tmp_path):
    bml(repo, "remote", "add", "origin", str(tmp_path / "blobs"))
    bml(repo, "remote", "add", "mine", str(tmp_path / "mine"), "--local")
    import json

    rows = {r["name"]: r for r in json.loads(bml(repo, "remote", "list", "--json").stdout)}
    assert rows["origin"]["source"] == "branchml.toml" and rows["origin"]["status"] == "ok"
    assert rows["mine"]["source"] == "local.toml"
    assert "mine" not in (repo / "branchml.toml").read_text()
    bml(repo, "remote", "remove", "mine")
    again = bml(repo, "remote", "remove", "mine", check=False)
    assert again.returncode != 0 and "no blob remote named 'mine'" in again.stderr.decode()
