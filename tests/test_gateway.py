"""`branchml gateway`: a real server on loopback, boto3 and the AWS CLI as clients, real commits."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import bml, git

boto3 = pytest.importorskip("boto3")
pytest.importorskip("starlette", reason="the gateway needs the `gateway` extra")
from botocore.config import Config  # noqa: E402  # botocore comes with boto3: imported once it is known present
from botocore.exceptions import ClientError  # noqa: E402

CONTENT = b"id,v\n" + b"".join(b"%d,%d\n" % (i, i * i) for i in range(5000))


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# The gateway under only its own extra: every third-party package of the other extras refuses to load,
# so an import of the dashboard (jinja2, plotly) or of fsspec on the gateway's path fails the test.
OTHER_EXTRAS = ("fsspec", "s3fs", "paramiko", "adlfs", "gcsfs", "pyarrow", "PIL", "sklearn", "skops", "pandas",
                "scipy", "fastapi", "httpx", "jinja2", "plotly", "markdown_it", "mlflow", "numpy", "onnx",
                "onnxruntime", "safetensors", "matplotlib", "vega_datasets", "git_filter_repo", "sqlalchemy")
WITHOUT_OTHER_EXTRAS = f"""
import importlib.abc, sys
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {OTHER_EXTRAS!r}:
            raise ModuleNotFoundError(f"{{name}} is not installed (only the gateway extra is)", name=name)
sys.meta_path.insert(0, Refuse())
from branchml.cli.entry import main
main()
"""


def _start(repo: Path, port: int, launcher: list[str]) -> subprocess.Popen:
    proc = subprocess.Popen([*launcher, "gateway", "--port", str(port)], cwd=repo,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}", timeout=2)
        except urllib.error.HTTPError:
            break  # up: it answers (403, unsigned)
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(f"the gateway exited: {proc.stdout.read().decode() if proc.stdout else ''}") from None
            time.sleep(0.1)
    return proc


@pytest.fixture
def gateway(repo, request):
    bml(repo, "track", "data/**")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "track data")
    git(repo, "switch", "-qc", "data/raw")
    (repo / "data").mkdir()
    (repo / "data/x.csv").write_bytes(CONTENT)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "upload", "--trailer", "Data-Source: test")
    git(repo, "switch", "-q", "main")
    keys = json.loads(bml(repo, "gateway", "credentials", "--json").stdout)
    port = _port()
    launcher = getattr(request, "param", [sys.executable, "-m", "branchml"])
    proc = _start(repo, port, launcher)
    yield repo, f"http://127.0.0.1:{port}", keys
    proc.terminate()
    proc.wait(10)


def _client(url: str, keys: dict, **config):
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id=keys["access_key_id"],
                        aws_secret_access_key=keys["secret_access_key"], config=Config(**config))


def test_boto3_lists_reads_ranges_and_writes_commits_under_the_rules(gateway):
    repo, url, keys = gateway
    s3 = _client(url, keys)
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["repo"]
    top = s3.list_objects_v2(Bucket="repo", Delimiter="/")
    assert {p["Prefix"] for p in top["CommonPrefixes"]} == {"data/", "main/"}
    listed = s3.list_objects_v2(Bucket="repo", Prefix="data/raw/data/")
    (entry,) = listed["Contents"]
    assert entry["Key"] == "data/raw/data/x.csv" and entry["Size"] == len(CONTENT)
    whole = s3.get_object(Bucket="repo", Key="data/raw/data/x.csv")["Body"].read()
    assert whole == CONTENT
    part = s3.get_object(Bucket="repo", Key="data/raw/data/x.csv", Range="bytes=5-12")["Body"].read()
    assert part == whole[5:13]
    assert s3.head_object(Bucket="repo", Key="data/raw/data/x.csv")["ContentLength"] == len(whole)

    before = git(repo, "rev-parse", "data/raw").strip()
    s3.put_object(Bucket="repo", Key="data/raw/data/uploads/new.csv", Body=b"id,v\n1,2\n" * 100,
                  Metadata={"source": "boto3 upload", "message": "New rows"})
    after = git(repo, "rev-parse", "data/raw").strip()
    assert git(repo, "rev-parse", f"{after}^").strip() == before
    log = git(repo, "log", "-1", "--format=%an%n%B", after)
    assert "Data-Source: boto3 upload" in log and "New rows" in log
    assert s3.get_object(Bucket="repo", Key="data/raw/data/uploads/new.csv")["Body"].read() == b"id,v\n1,2\n" * 100

    with pytest.raises(ClientError) as refused:  # data/raw is append-only: an edit is refused, nothing moves
        s3.put_object(Bucket="repo", Key="data/raw/data/x.csv", Body=b"id,v\n", Metadata={"source": "edit"})
    assert refused.value.response["Error"]["Code"] == "AccessDenied" and "append" in refused.value.response["Error"]["Message"]
    with pytest.raises(ClientError):
        s3.delete_object(Bucket="repo", Key="data/raw/data/x.csv")
    assert git(repo, "rev-parse", "data/raw").strip() == after


@pytest.mark.parametrize("gateway", [[sys.executable, "-c", WITHOUT_OTHER_EXTRAS]], indirect=True)
def test_the_gateway_extra_alone_serves_reads_and_writes(gateway):
    repo, url, keys = gateway
    s3 = _client(url, keys)
    assert s3.get_object(Bucket="repo", Key="data/raw/data/x.csv")["Body"].read() == CONTENT
    s3.put_object(Bucket="repo", Key="data/raw/data/uploads/alone.csv", Body=b"a,b\n1,2\n", Metadata={"source": "alone"})
    assert "Data-Source: alone" in git(repo, "log", "-1", "--format=%B", "data/raw")


def test_the_refusing_launcher_does_refuse_the_dashboard(tmp_path):
    """The launcher above proves something only if it really keeps the other extras out."""
    script = WITHOUT_OTHER_EXTRAS.replace("from branchml.cli.entry import main\nmain()", "import branchml.ui.app")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode != 0 and "only the gateway extra is" in done.stderr


def test_a_multipart_upload_is_one_commit_and_an_abandoned_one_commits_nothing(gateway):
    repo, url, keys = gateway
    s3 = _client(url, keys)
    big = os.urandom(6 << 20) + b"tail"
    upload = s3.create_multipart_upload(Bucket="repo", Key="data/raw/data/uploads/big.bin", Metadata={"source": "mp"})
    parts = []
    for n, start in enumerate(range(0, len(big), 5 << 20), 1):
        answer = s3.upload_part(Bucket="repo", Key="data/raw/data/uploads/big.bin", PartNumber=n,
                                UploadId=upload["UploadId"], Body=big[start : start + (5 << 20)])
        parts.append({"PartNumber": n, "ETag": answer["ETag"]})
    before = git(repo, "rev-parse", "data/raw").strip()
    truncated = s3.create_multipart_upload(Bucket="repo", Key="data/raw/data/uploads/half.bin", Metadata={"source": "mp"})
    s3.upload_part(Bucket="repo", Key="data/raw/data/uploads/half.bin", PartNumber=1, UploadId=truncated["UploadId"], Body=b"x")
    with pytest.raises(ClientError):  # part 2 was never sent
        s3.complete_multipart_upload(Bucket="repo", Key="data/raw/data/uploads/half.bin", UploadId=truncated["UploadId"],
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": "x"}, {"PartNumber": 2, "ETag": "y"}]})
    assert git(repo, "rev-parse", "data/raw").strip() == before
    s3.complete_multipart_upload(Bucket="repo", Key="data/raw/data/uploads/big.bin", UploadId=upload["UploadId"],
                                 MultipartUpload={"Parts": parts})
    assert git(repo, "rev-list", "--count", f"{before}..data/raw").strip() == "1"
    assert s3.get_object(Bucket="repo", Key="data/raw/data/uploads/big.bin")["Body"].read() == big
    assert git(repo, "show", "data/raw:data/uploads/big.bin").startswith("branchml pointer v1")


def test_wrong_signatures_unknown_keys_and_anonymous_requests_are_refused(gateway):
    repo, url, keys = gateway
    wrong = _client(url, {**keys, "secret_access_key": "not-the-secret"})
    with pytest.raises(ClientError) as err:
        wrong.list_objects_v2(Bucket="repo")
    assert err.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    stranger = _client(url, {**keys, "access_key_id": "AKIANOTONTHELIST"})
    with pytest.raises(ClientError) as err:
        stranger.get_object(Bucket="repo", Key="data/raw/data/x.csv")
    assert err.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(url + "/repo/data/raw/data/x.csv", timeout=10)
    assert anonymous.value.code == 403 and b"<Code>AccessDenied</Code>" in anonymous.value.read()
    s3 = _client(url, keys)
    for key in ("nope/x.csv", "data/raw/../../etc/passwd", "data/raw/data/missing.csv"):
        with pytest.raises(ClientError) as err:
            s3.get_object(Bucket="repo", Key=key)
        assert err.value.response["Error"]["Code"] in ("NoSuchKey", "404"), key
    assert not (Path(repo) / "etc").exists()


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI (awscli from PyPI) is not installed")
def test_the_aws_cli_copies_objects_in_and_out(gateway, tmp_path):
    repo, url, keys = gateway
    env = {**os.environ, "AWS_ACCESS_KEY_ID": keys["access_key_id"], "AWS_SECRET_ACCESS_KEY": keys["secret_access_key"],
           "AWS_DEFAULT_REGION": "us-east-1"}
    out = tmp_path / "x.csv"
    subprocess.run(["aws", "--endpoint-url", url, "s3", "cp", "s3://repo/data/raw/data/x.csv", str(out)], env=env,
                   check=True, capture_output=True)
    assert out.read_bytes() == CONTENT
    new = tmp_path / "new.csv"
    new.write_bytes(b"a,b\n" * 1000)
    subprocess.run(["aws", "--endpoint-url", url, "s3", "cp", str(new), "s3://repo/data/raw/data/uploads/cli.csv",
                    "--metadata", "source=aws cli"], env=env, check=True, capture_output=True)
    assert "Data-Source: aws cli" in git(repo, "log", "-1", "--format=%B", "data/raw")
    listing = subprocess.run(["aws", "--endpoint-url", url, "s3", "ls", "s3://repo/data/raw/data/uploads/"], env=env,
                             check=True, capture_output=True).stdout.decode()
    assert "cli.csv" in listing
