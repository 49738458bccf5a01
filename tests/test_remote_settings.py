"""Which committed remote settings are honoured: consent bound to values, no credentials in files."""

from __future__ import annotations

import pytest
from conftest import bml, git

from branchml.remote import api, settings
from branchml.remote.settings import RemoteConfigError
from branchml.repo import Repo


def write_committed(repo_path, body: str) -> None:
    """branchml.toml committed on main, the settings branch (the work tree alone does not count)."""
    (repo_path / "branchml.toml").write_text("[branchml]\nversion = 1\n\n" + body)
    git(repo_path, "add", "branchml.toml")
    git(repo_path, "commit", "-qm", "settings")


@pytest.fixture
def no_endpoint_env(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def test_committed_endpoint_is_ignored_until_trusted_and_again_when_it_changes(repo, no_endpoint_env):
    write_committed(repo, '[remotes.origin]\nurl = "s3://bucket/p"\nendpoint_url = "http://10.0.0.1:9000"\n')
    r = Repo.find(repo)
    (spec,) = settings.load_remotes(r)
    assert spec.ignored == ("endpoint_url",) and "endpoint_url" not in spec.storage_options()
    assert "remote trust origin" in settings.ignored_warning(spec)
    api.trust_remote(r, "origin")
    (spec,) = settings.load_remotes(r)
    assert spec.storage_options()["endpoint_url"] == "http://10.0.0.1:9000" and spec.ignored == ()
    write_committed(repo, '[remotes.origin]\nurl = "s3://bucket/p"\nendpoint_url = "http://evil.example:80"\n')
    (spec,) = settings.load_remotes(r)
    assert spec.ignored == ("endpoint_url",) and "endpoint_url" not in spec.storage_options()


def test_a_local_remote_of_the_same_name_takes_no_untrusted_committed_option(repo, no_endpoint_env, tmp_path):
    """The bypass of issue 12: `remote add origin ... --local`, then upstream commits an endpoint."""
    bml(repo, "remote", "add", "origin", "s3://mine/p", "--local")
    write_committed(repo, '[remotes.origin]\nurl = "s3://theirs/p"\nendpoint_url = "http://10.0.0.1:9000"\n'
                    'client_kwargs = {proxies = {https = "http://10.0.0.2:3128"}}\npack_size = 1048576\n')
    (spec,) = settings.load_remotes(Repo.find(repo))
    assert spec.url == "s3://mine/p" and spec.pack_size == 1 << 20  # safe committed options still apply
    options = spec.storage_options()  # only branchml's own timeouts (docs/remotes.md), nothing committed
    assert options == {"config_kwargs": {"connect_timeout": 10.0, "read_timeout": 60.0,
                                         "retries": {"max_attempts": 1, "mode": "standard"}}}
    assert set(spec.ignored) == {"endpoint_url", "client_kwargs"}


def test_the_users_environment_wins_over_a_trusted_committed_endpoint(repo, monkeypatch):
    write_committed(repo, '[remotes.origin]\nurl = "s3://bucket/p"\nendpoint_url = "http://10.0.0.1:9000"\n')
    api.trust_remote(Repo.find(repo), "origin")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9999")
    (spec,) = settings.load_remotes(Repo.find(repo))
    assert spec.storage_options()["endpoint_url"] == "http://127.0.0.1:9999"


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
        settings.load(Repo.find(repo)).choose()
    write_committed(repo, '[remotes.origin]\nurl = "s3://b/p"\naws_secret_access_key = "x"\n')
    with pytest.raises(RemoteConfigError, match="credential"):
        settings.load(Repo.find(repo)).choose("origin")
    proc = bml(repo, "remote", "add", "other", "s3://b/q", "--option", "password=hunter2", check=False)
    assert proc.returncode != 0 and "credential" in proc.stderr.decode()
    assert "hunter2" not in (repo / "branchml.toml").read_text()


def test_remotes_come_from_main_whatever_branch_is_checked_out(repo, tmp_path):
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "scaffold")
    git(repo, "branch", "stable/early")  # forked before the remote was added
    bml(repo, "remote", "add", "origin", str(tmp_path / "blobs"))
    git(repo, "commit", "-qam", "blob remote")
    git(repo, "switch", "-q", "stable/early")
    assert "[remotes." not in (repo / "branchml.toml").read_text()
    (spec,) = settings.load_remotes(Repo.find(repo))
    assert spec.url == str(tmp_path / "blobs")
    refused = bml(repo, "remote", "add", "other", str(tmp_path / "b2"), check=False)
    assert refused.returncode == 10 and "git switch main" in refused.stderr.decode()
    (repo / "branchml.toml").write_text('[remotes.origin]\nurl = "/elsewhere"\n')  # not main's: ignored
    (spec,) = settings.load_remotes(Repo.find(repo))
    assert spec.url == str(tmp_path / "blobs")


def test_remote_add_list_remove_round_trip(repo, tmp_path):
    bml(repo, "remote", "add", "origin", str(tmp_path / "blobs"))
    bml(repo, "remote", "add", "mine", str(tmp_path / "mine"), "--local")
    import json

    rows = {r["name"]: r for r in json.loads(bml(repo, "remote", "list", "--json").stdout)}
    assert rows["origin"]["source"] == "work tree" and "until committed" in rows["origin"]["status"]
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "blob remote")
    rows = {r["name"]: r for r in json.loads(bml(repo, "remote", "list", "--json").stdout)}
    assert rows["origin"]["source"] == "branchml.toml" and rows["origin"]["ref"] == "refs/heads/main"
    assert rows["origin"]["status"] == "ok"
    assert rows["mine"]["source"] == "local.toml"
    assert "mine" not in (repo / "branchml.toml").read_text()
    bml(repo, "remote", "remove", "mine")
    again = bml(repo, "remote", "remove", "mine", check=False)
    assert again.returncode != 0 and "no blob remote named 'mine'" in again.stderr.decode()


def test_remote_list_is_dataclasses_whose_as_dict_is_what_json_prints(repo, tmp_path):
    import json

    import branchml
    from branchml.remote.api import ListedRemote

    bml(repo, "remote", "add", "origin", str(tmp_path / "blobs"), "-o", "pack_size=1048576")
    bml(repo, "remote", "add", "mine", str(tmp_path / "mine"), "--local")
    listed = branchml.list_remotes(branchml.open_repo(repo))
    assert all(isinstance(r, ListedRemote) for r in listed)
    by_name = {r.name: r for r in listed}
    assert by_name["origin"].options == {"pack_size": 1048576} and by_name["mine"].source == "local.toml"
    assert [r.as_dict() for r in listed] == json.loads(bml(repo, "remote", "list", "--json").stdout)
