"""AWS Signature Version 4, as S3 checks it: the header signature, then the payload.

Written from AWS's published algorithm (canonical request -> string to sign -> HMAC chain). The
payload is checked too: a hex `x-amz-content-sha256` must match the body; `aws-chunked` bodies are
decoded, their chunk signatures verified in chain (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) or their
trailing CRC32 checked (STREAMING-UNSIGNED-PAYLOAD-TRAILER). Anything else is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_SKEW = timedelta(minutes=15)
_AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/,]+)/(\d{8})/([^/,]+)/s3/aws4_request,\s*"
                   r"SignedHeaders=([a-z0-9;\-]+),\s*Signature=([0-9a-f]{64})$")


class SignatureError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Signed:
    access_key_id: str
    scope: str
    amz_date: str
    signature: str
    signing_key: bytes


def verify(method: str, raw_path: str, raw_query: str, headers: dict[str, str], keys: dict[str, str]) -> Signed:
    """Check the Authorization header of a request; `headers` lowercased; `keys`: access key -> secret."""
    match = _AUTH.match(headers.get("authorization", ""))
    if not match:
        raise SignatureError("AccessDenied", "requests must be signed with AWS Signature Version 4 (anonymous access is off)")
    key_id, day, region, signed_names, signature = match.groups()
    if key_id not in keys:
        raise SignatureError("InvalidAccessKeyId", "the access key id is not on this gateway's credentials list")
    amz_date = headers.get("x-amz-date", "")
    _check_time(amz_date, day)
    names = signed_names.split(";")
    if "host" not in names or any(n not in headers for n in names):
        raise SignatureError("AccessDenied", "the signature must cover the host header and every header it names")
    canonical = "\n".join([method, raw_path or "/", canonical_query(raw_query),
                           "".join(f"{n}:{' '.join(headers[n].split())}\n" for n in names), signed_names,
                           headers.get("x-amz-content-sha256", EMPTY_SHA256)])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = f"{ALGORITHM}\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signing_key = _signing_key(keys[key_id], day, region)
    expected = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise SignatureError("SignatureDoesNotMatch", "the request signature does not match (wrong secret key?)")
    return Signed(key_id, scope, amz_date, signature, signing_key)


def _check_time(amz_date: str, day: str) -> None:
    try:
        when = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise SignatureError("AccessDenied", "missing or malformed x-amz-date") from None
    if not amz_date.startswith(day) or abs(datetime.now(UTC) - when) > MAX_SKEW:
        raise SignatureError("RequestTimeTooSkewed", "the request time is more than 15 minutes from the gateway's")


def canonical_query(raw: str) -> str:
    pairs = []
    for part in filter(None, raw.split("&")):
        name, _, value = part.partition("=")
        pairs.append((_encode(unquote(name)), _encode(unquote(value))))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def _signing_key(secret: str, day: str, region: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def payload(body: bytes, headers: dict[str, str], signed: Signed) -> bytes:
    """The object bytes of a verified request body (aws-chunked decoded), or SignatureError."""
    declared = headers.get("x-amz-content-sha256", EMPTY_SHA256)
    if declared == "UNSIGNED-PAYLOAD":
        return body
    if declared == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD":
        return _signed_chunks(body, signed)
    if declared == "STREAMING-UNSIGNED-PAYLOAD-TRAILER":
        return _unsigned_chunks_with_trailer(body, headers)
    if re.fullmatch(r"[0-9a-f]{64}", declared):
        if not hmac.compare_digest(hashlib.sha256(body).hexdigest(), declared):
            raise SignatureError("XAmzContentSHA256Mismatch", "the body does not match x-amz-content-sha256")
        return body
    raise SignatureError("NotImplemented", f"payload signing {declared!r} is not supported")


def _chunks(body: bytes) -> tuple[list[tuple[bytes, str]], bytes]:
    """(data, extension) of each aws-chunked chunk, and what follows the final one (trailers)."""
    out, pos = [], 0
    while True:
        end = body.find(b"\r\n", pos)
        if end < 0:
            raise SignatureError("IncompleteBody", "truncated aws-chunked body")
        size_text, _, extension = body[pos:end].decode("ascii", "replace").partition(";")
        size = int(size_text, 16)
        data = body[end + 2 : end + 2 + size]
        if len(data) != size:
            raise SignatureError("IncompleteBody", "truncated aws-chunked body")
        out.append((data, extension))
        pos = end + 2 + size + (2 if size else 0)
        if size == 0:
            return out, body[end + 2 :]


def _signed_chunks(body: bytes, signed: Signed) -> bytes:
    previous, data = signed.signature, []
    chunks, _ = _chunks(body)
    for chunk, extension in chunks:
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", signed.amz_date, signed.scope, previous, EMPTY_SHA256,
                             hashlib.sha256(chunk).hexdigest()])
        expected = hmac.new(signed.signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(extension, f"chunk-signature={expected}"):
            raise SignatureError("SignatureDoesNotMatch", "an aws-chunked chunk signature does not match")
        previous = expected
        data.append(chunk)
    return b"".join(data)


def _unsigned_chunks_with_trailer(body: bytes, headers: dict[str, str]) -> bytes:
    chunks, rest = _chunks(body)
    data = b"".join(chunk for chunk, _ in chunks)
    trailers = dict(line.split(":", 1) for line in rest.decode("ascii", "replace").split("\r\n") if ":" in line)
    crc = trailers.get("x-amz-checksum-crc32", "").strip()
    if crc and base64.b64decode(crc) != zlib.crc32(data).to_bytes(4, "big"):
        raise SignatureError("BadDigest", "the body does not match its x-amz-checksum-crc32 trailer")
    return data
