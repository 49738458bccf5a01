"""The gateway's Starlette app: one handler per S3 operation, S3's XML errors, auth before any read.

Keys are `<ref>/<path>` in a bucket named after the repository. Reads work on any branch, tag or
commit; a PutObject, a completed multipart upload or a DeleteObject is one commit on the branch by
the key's user (`x-amz-meta-message` and `x-amz-meta-source` give the message and `Data-Source`),
refused with AccessDenied and the rule's words where the branch's role forbids it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import shutil
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from branchml.audit.content import blob_at
from branchml.errors import BranchmlError
from branchml.fs.locate import NotFound, open_repo, split_ref_path
from branchml.fs.reader import RangeReader
from branchml.fs.writer import Change, commit_changes
from branchml.gateway import sigv4
from branchml.gateway.credentials import Credentials, load_or_create
from branchml.gateway.listing import list_objects
from branchml.repo import Repo
from branchml.roles.hooks import RulesRefused

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_BODY = 256 << 20  # one PutObject or part in memory; larger objects go through multipart
PIECE = 8 << 20


STATUS = {"NoSuchBucket": 404, "NoSuchKey": 404, "NoSuchUpload": 404, "InvalidRange": 416, "NotImplemented": 501,
          "EntityTooLarge": 400, "InvalidArgument": 400, "InvalidPart": 400, "MalformedXML": 400}


class S3Error(Exception):
    """An S3 error code and message, answered in S3's XML (403 for codes not listed in STATUS)."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code, self.message = code, message
        self.status = status or STATUS.get(code, 403)


def make_app(root: Path) -> Starlette:
    async def endpoint(request: Request) -> Response:
        length = int(request.headers.get("content-length") or 0)
        if length > MAX_BODY + (1 << 20):
            return _error("EntityTooLarge", f"bodies above {MAX_BODY} bytes must use a multipart upload", 400, request)
        body = await request.body() if request.method in ("PUT", "POST") else b""
        return await run_in_threadpool(_answer, root, request, body)
    methods = ["GET", "HEAD", "PUT", "POST", "DELETE"]
    return Starlette(routes=[Route("/", endpoint, methods=methods), Route("/{bucket}", endpoint, methods=methods),
                             Route("/{bucket}/{key:path}", endpoint, methods=methods)])


def _answer(root: Path, request: Request, body: bytes) -> Response:
    repo = open_repo(root)
    try:
        creds = load_or_create(repo)
        headers = {k.lower(): v for k, v in request.headers.items()}
        signed = sigv4.verify(request.method, request.scope.get("raw_path", b"/").decode(),
                              request.scope.get("query_string", b"").decode(), headers, {creds.access_key_id: creds.secret_access_key})
        data = sigv4.payload(body, headers, signed) if request.method in ("PUT", "POST") else b""
        return _dispatch(repo, request, creds, data)
    except sigv4.SignatureError as exc:
        return _error(exc.code, exc.message, 403 if exc.code != "NotImplemented" else 501, request)
    except S3Error as exc:
        return _error(exc.code, exc.message, exc.status, request)
    except RulesRefused as exc:
        return _error("AccessDenied", exc.message, 403, request)
    except NotFound as exc:
        return _error("NoSuchKey", exc.message, 404, request)
    except BranchmlError as exc:
        return _error("InternalError", str(exc), 500, request)
    finally:
        if "store" in repo.__dict__:
            repo.store.close()


def _dispatch(repo: Repo, request: Request, creds: Credentials, data: bytes) -> Response:
    bucket, key, q = request.path_params.get("bucket"), request.path_params.get("key", ""), request.query_params
    if bucket is None:
        return _xml(_list_buckets(repo))
    if bucket != _bucket_name(repo):
        raise S3Error("NoSuchBucket", f"this gateway serves one bucket: {_bucket_name(repo)!r}")
    method = request.method
    if not key:
        if method in ("GET", "HEAD") and "location" in q:
            return _xml(ET.Element("LocationConstraint", xmlns=NS))
        if method in ("GET", "HEAD"):
            return _xml(_list_v2(repo, bucket, q)) if method == "GET" else Response()
        raise S3Error("NotImplemented", "bucket operations other than listing are not supported")
    author = (creds.user_name, creds.user_email)
    meta = {k.lower().removeprefix("x-amz-meta-"): v for k, v in request.headers.items() if k.lower().startswith("x-amz-meta-")}
    handlers: dict[str, Callable[[], Response]] = {
        "GET": lambda: _get(repo, key, request.headers.get("range"), head=False),
        "HEAD": lambda: _get(repo, key, request.headers.get("range"), head=True),
        "PUT": lambda: _upload_part(repo, q, data) if "uploadId" in q else _put(repo, key, data, meta, author),
        "POST": lambda: _create_upload(repo, key, meta) if "uploads" in q else _complete(repo, key, q, data, author),
        "DELETE": lambda: _abort(repo, q) if "uploadId" in q else _delete(repo, key, meta, author),
    }
    return handlers[method]()


def _bucket_name(repo: Repo) -> str:
    name = Path(repo.cwd).name.removesuffix(".git").lower()
    return re.sub(r"[^a-z0-9.-]", "-", name) or "repo"


def _list_buckets(repo: Repo) -> ET.Element:
    root = ET.Element("ListAllMyBucketsResult", xmlns=NS)
    owner = ET.SubElement(root, "Owner")
    ET.SubElement(owner, "ID").text = "branchml"
    bucket = ET.SubElement(ET.SubElement(root, "Buckets"), "Bucket")
    ET.SubElement(bucket, "Name").text = _bucket_name(repo)
    ET.SubElement(bucket, "CreationDate").text = "2026-01-01T00:00:00.000Z"
    return root


def _list_v2(repo: Repo, bucket: str, q: Any) -> ET.Element:
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
    after = _decode_token(q.get("continuation-token")) or q.get("start-after", "")
    limit = max(1, min(1000, int(q.get("max-keys", "1000"))))
    objects, prefixes, next_key = list_objects(repo, prefix, delimiter, after, limit)
    root = ET.Element("ListBucketResult", xmlns=NS)
    for name, value in (("Name", bucket), ("Prefix", prefix), ("KeyCount", str(len(objects) + len(prefixes))),
                        ("MaxKeys", str(limit)), ("IsTruncated", "true" if next_key else "false")):
        ET.SubElement(root, name).text = value
    if delimiter:
        ET.SubElement(root, "Delimiter").text = delimiter
    if next_key:
        ET.SubElement(root, "NextContinuationToken").text = next_key.encode().hex()
    for entry in objects:
        item = ET.SubElement(root, "Contents")
        for name, value in (("Key", entry.key), ("Size", str(entry.size)), ("ETag", f'"{entry.etag}"'),
                            ("LastModified", "2026-01-01T00:00:00.000Z"), ("StorageClass", "STANDARD")):
            ET.SubElement(item, name).text = value
    for common in prefixes:
        ET.SubElement(ET.SubElement(root, "CommonPrefixes"), "Prefix").text = common
    return root


def _decode_token(token: str | None) -> str:
    try:
        return bytes.fromhex(token).decode() if token else ""
    except ValueError:
        raise S3Error("InvalidArgument", "the continuation token is not one this gateway gave") from None


def _get(repo: Repo, key: str, byte_range: str | None, *, head: bool) -> Response:
    where = split_ref_path(repo, key)
    blob = blob_at(repo, where.commit, where.path) if where.path else None
    if blob is None:
        raise S3Error("NoSuchKey", f"{where.ref} has no file {where.path!r}")
    start, end = _range(byte_range, blob.size)
    headers = {"ETag": f'"{blob.pointer.oid if blob.pointer else blob.blob}"', "Accept-Ranges": "bytes",
               "Content-Length": str(end - start), "Last-Modified": "Thu, 01 Jan 2026 00:00:00 GMT"}
    status = 206 if byte_range else 200
    if byte_range:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{blob.size}"
    if head:
        return Response(status_code=status, headers=headers)
    root = repo.cwd

    def pieces() -> Iterator[bytes]:  # runs after the handler returned: a repository of its own
        own = open_repo(root)
        try:
            reader = RangeReader(own, blob)
            for at in range(start, end, PIECE):
                yield reader.read(at, min(end, at + PIECE))
        finally:
            own.store.close()
    return StreamingResponse(pieces(), status_code=status, headers=headers, media_type="application/octet-stream")


def _range(header: str | None, size: int) -> tuple[int, int]:
    if not header:
        return 0, size
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
    if not match or match.groups() == ("", ""):
        raise S3Error("InvalidRange", f"unsupported range {header!r}")
    first, last = match.groups()
    start, end = (size - int(last), size) if first == "" else (int(first), min(size, int(last) + 1) if last else size)
    if start < 0 or start >= size or end <= start:
        raise S3Error("InvalidRange", f"range {header!r} is outside the object's {size} bytes")
    return start, end


def _put(repo: Repo, key: str, data: bytes, meta: dict[str, str], author: tuple[str, str]) -> Response:
    where = split_ref_path(repo, key)
    with tempfile.NamedTemporaryFile(prefix="branchml-gw-", dir=repo.store_dir / "tmp") as spool:
        spool.write(data)
        spool.flush()
        commit_changes(repo, where.ref, [Change(where.path, Path(spool.name))],
                       meta.get("message", f"Upload {where.path} through the gateway"), meta.get("source"), author=author)
    return Response(headers={"ETag": f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'})


def _delete(repo: Repo, key: str, meta: dict[str, str], author: tuple[str, str]) -> Response:
    where = split_ref_path(repo, key)
    if blob_at(repo, where.commit, where.path) is not None:
        commit_changes(repo, where.ref, [Change(where.path, None)], meta.get("message", f"Delete {where.path} through the gateway"), author=author)
    return Response(status_code=204)


def _uploads(repo: Repo) -> Path:
    folder = repo.store_dir / "gateway" / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _upload_dir(repo: Repo, upload_id: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{32}", upload_id) or not (_uploads(repo) / upload_id).is_dir():
        raise S3Error("NoSuchUpload", f"no multipart upload {upload_id!r}")
    return _uploads(repo) / upload_id


def _create_upload(repo: Repo, key: str, meta: dict[str, str]) -> Response:
    split_ref_path(repo, key)
    upload_id = secrets.token_hex(16)
    folder = _uploads(repo) / upload_id
    folder.mkdir()
    (folder / "meta").write_text("\n".join(f"{k}\t{v}" for k, v in meta.items() if k in ("message", "source")))
    root = ET.Element("InitiateMultipartUploadResult", xmlns=NS)
    for name, value in (("Bucket", _bucket_name(repo)), ("Key", key), ("UploadId", upload_id)):
        ET.SubElement(root, name).text = value
    return _xml(root)


def _upload_part(repo: Repo, q: Any, data: bytes) -> Response:
    folder = _upload_dir(repo, q.get("uploadId", ""))
    number = int(q.get("partNumber", "0"))
    if not 1 <= number <= 10000:
        raise S3Error("InvalidArgument", "partNumber must be between 1 and 10000")
    (folder / f"part-{number:05d}").write_bytes(data)
    return Response(headers={"ETag": f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'})


def _complete(repo: Repo, key: str, q: Any, data: bytes, author: tuple[str, str]) -> Response:
    folder = _upload_dir(repo, q.get("uploadId", ""))
    numbers = _listed_parts(data)
    missing = [n for n in numbers if not (folder / f"part-{n:05d}").exists()]
    if not numbers or missing or numbers != sorted(set(numbers)):
        raise S3Error("InvalidPart", f"parts {missing or numbers} were not all uploaded, or are out of order")
    meta = dict(line.split("\t", 1) for line in (folder / "meta").read_text().splitlines() if "\t" in line)
    where = split_ref_path(repo, key)
    whole = folder / "whole"
    with open(whole, "wb") as out:
        for n in numbers:
            with open(folder / f"part-{n:05d}", "rb") as part:
                shutil.copyfileobj(part, out, 1 << 20)
    commit_changes(repo, where.ref, [Change(where.path, whole)], meta.get("message", f"Upload {where.path} through the gateway"),
                   meta.get("source"), author=author)
    shutil.rmtree(folder)
    root = ET.Element("CompleteMultipartUploadResult", xmlns=NS)
    for name, value in (("Bucket", _bucket_name(repo)), ("Key", key), ("ETag", '"multipart"')):
        ET.SubElement(root, name).text = value
    return _xml(root)


def _listed_parts(data: bytes) -> list[int]:
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        raise S3Error("MalformedXML", "the CompleteMultipartUpload body is not XML") from None
    return [int(e.text or "0") for e in root.iter() if e.tag.endswith("PartNumber")]


def _abort(repo: Repo, q: Any) -> Response:
    shutil.rmtree(_upload_dir(repo, q.get("uploadId", "")))
    return Response(status_code=204)


def _xml(root: ET.Element) -> Response:
    return Response(b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root), media_type="application/xml")


def _error(code: str, message: str, status: int, request: Request) -> Response:
    root = ET.Element("Error")
    for name, value in (("Code", code), ("Message", message), ("Resource", request.url.path), ("RequestId", secrets.token_hex(8))):
        ET.SubElement(root, name).text = value
    body = b"" if request.method == "HEAD" else b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root)
    return Response(body, status_code=status, media_type="application/xml")
