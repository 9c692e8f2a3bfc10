"""A workspace kept in an S3 bucket (or an S3-compatible store such as MinIO)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, BinaryIO, cast
from urllib.parse import quote

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from core.errors import FileNotFoundInSandbox, InvalidPathError, StorageError
from core.files.objects import s3_client
from core.ids import check_id
from core.types import FileInfo, guess_mime_type
from core.workspace.base import NAMESPACE, validate_name

if TYPE_CHECKING:
    from core.config import Settings

MAX_ATTEMPTS = 5  # botocore's standard retry mode: the first try and up to four retries, with backoff
_MISSING = {"NoSuchKey", "NotFound", "404"}
_BAD_CREDENTIALS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
}
_DENIED = {"AccessDenied", "AllAccessDisabled", "403"}
_THROTTLED = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "ServiceUnavailable"}
_PERMISSIONS = {
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "ListObjectsV2": "s3:ListBucket",
    "DeleteObject": "s3:DeleteObject",
}
_NO_CREDENTIALS = (
    "No AWS credentials were found for S3. Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, choose a profile "
    "with AWS_PROFILE, or run where an IAM role is available."
)


def _not_found(name: str) -> FileNotFoundInSandbox:
    return FileNotFoundInSandbox(f"No file named {name!r} in the workspace.")


def _is_name(name: str) -> bool:
    try:
        return validate_name(name) == name
    except InvalidPathError:
        return False


class S3Workspace:
    """A workspace whose files are the objects under one key prefix of a bucket.

    Keys are ``{prefix}/{user_id}/{conversation_id}/code-interpreter/{name}``. S3 writes are atomic: a
    reader sees the old object or the new one, never half of it. Keys under the prefix that are not flat,
    valid names (nested keys, hidden names) are not part of the workspace. Names may carry the
    ``code-interpreter/`` prefix. Every method raises ``InvalidPathError`` for a refused name,
    ``FileNotFoundInSandbox`` for a missing file and ``StorageError`` (with a plain message) when S3 cannot
    be used: missing bucket, credentials or permission, unreachable endpoint, throttling after the retries.

    Attributes:
        bucket: The bucket name.
        key_prefix: The key prefix of this workspace, ending with ``/``.
        presign_bytes: Files larger than this are offered through presigned URLs by ``download_url``.

    """

    def __init__(
        self,
        bucket: str,
        prefix: str,
        user_id: str,
        conversation_id: str,
        *,
        client: Any | None = None,
        presign_bytes: int = 20 * 1024 * 1024,
    ) -> None:
        """Use the workspace of one user's conversation in ``bucket``.

        Args:
            bucket: The bucket name.
            prefix: A key prefix shared by every workspace (slashes around it are ignored; may be empty).
            user_id: The owner; users never see each other's files.
            conversation_id: The conversation.
            client: A boto3 S3 client; by default one is created from the standard AWS configuration when
                first needed.
            presign_bytes: Size above which ``download_url`` returns a presigned URL.

        Raises:
            StorageError: When ``bucket`` is empty.
            InvalidPathError: When an id is not a safe id.

        """
        if not bucket:
            raise StorageError("No S3 bucket is set for the workspace. Set INTERPRETER_S3_BUCKET to the bucket to use.")
        parts = [prefix.strip("/"), check_id(user_id, "user id"), check_id(conversation_id, "conversation id")]
        self.bucket = bucket
        self.key_prefix = "/".join([part for part in parts if part] + [NAMESPACE]) + "/"
        self.presign_bytes = presign_bytes
        self._client = client
        self._client_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, user_id: str, conversation_id: str) -> S3Workspace:
        """The workspace from ``s3_bucket``, ``s3_prefix`` and ``s3_presign_mb``, with the default client."""
        return cls(
            settings.s3_bucket,
            settings.s3_prefix,
            user_id,
            conversation_id,
            presign_bytes=settings.s3_presign_mb * 1024 * 1024,
        )

    @property
    def client(self) -> Any:
        """The boto3 S3 client, created on first use."""
        with self._client_lock:
            if self._client is None:
                self._client = s3_client()
            return self._client

    def _key(self, name: str) -> tuple[str, str]:
        bare = validate_name(name)
        return bare, self.key_prefix + bare

    @contextlib.contextmanager
    def _errors(self, name: str = "") -> Iterator[None]:
        """Turn botocore's exceptions into the project's typed errors with plain messages."""
        try:
            yield
        except NoCredentialsError:
            raise StorageError(_NO_CREDENTIALS) from None
        except EndpointConnectionError:  # includes connection timeouts, after the retries
            raise StorageError(
                f"S3 cannot be reached at {self.client.meta.endpoint_url}. Check the network, AWS_REGION and "
                "AWS_ENDPOINT_URL_S3 (for an S3-compatible store)."
            ) from None
        except ReadTimeoutError:
            raise StorageError("S3 did not answer in time, even after retrying; try again in a moment.") from None
        except ClientError as exc:
            raise self._translate(exc, name) from None
        except BotoCoreError as exc:
            raise StorageError(f"S3 could not be used: {exc}") from None

    def _translate(self, exc: ClientError, name: str) -> Exception:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        meta = exc.response.get("ResponseMetadata", {})
        status = int(meta.get("HTTPStatusCode") or 0)
        if code in _MISSING and name:
            return _not_found(name)
        if code == "NoSuchBucket":
            return StorageError(
                f"The S3 bucket {self.bucket!r} does not exist. Create it or set INTERPRETER_S3_BUCKET."
            )
        if code in _BAD_CREDENTIALS:
            return StorageError(
                f"S3 refused the AWS credentials ({code}): they are wrong or expired. Check or refresh them."
            )
        if code in _DENIED:
            permission = _PERMISSIONS.get(exc.operation_name, "s3:*")
            return StorageError(
                f"S3 denied access: the AWS credentials need the {permission} permission on "
                f"arn:aws:s3:::{self.bucket}/{self.key_prefix}*."
            )
        if code in _THROTTLED or status == 429 or status >= 500:
            attempts = int(meta.get("RetryAttempts", MAX_ATTEMPTS - 1)) + 1
            return StorageError(
                f"S3 is throttling or failing ({code}/{status}) even after {attempts} attempts; try again in a moment."
            )
        return StorageError(f"S3 refused the request ({code or status}): {error.get('Message') or 'no details'}.")

    def list(self) -> list[FileInfo]:
        """Every file, sorted by name, read from all pages of the listing."""
        files = []
        with self._errors():
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.key_prefix, Delimiter="/"
            )
            for page in pages:
                for item in page.get("Contents", []):
                    name = item["Key"][len(self.key_prefix) :]
                    if _is_name(name):
                        modified = item["LastModified"].timestamp()
                        files.append(FileInfo(name, item["Size"], modified, mime_type=guess_mime_type(name)))
        return sorted(files, key=lambda info: info.path)

    def read(self, name: str) -> bytes:
        """Return the bytes of one file."""
        bare, key = self._key(name)
        with self._errors(bare):
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            with contextlib.closing(body):
                return bytes(body.read())

    def open(self, name: str) -> BinaryIO:
        """One file, open for reading: its bytes arrive as they are read (close it when done)."""
        bare, key = self._key(name)
        with self._errors(bare):
            return cast(BinaryIO, self.client.get_object(Bucket=self.bucket, Key=key)["Body"])

    def write(self, name: str, data: bytes) -> FileInfo:
        """Store a file with one PUT (atomic), replacing any file of that name; the time is the server's."""
        bare, key = self._key(name)
        data = bytes(data)
        mime = guess_mime_type(bare)
        with self._errors(bare):
            response = self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=mime)
        modified = time.time()
        with contextlib.suppress(KeyError, TypeError, ValueError):
            modified = parsedate_to_datetime(response["ResponseMetadata"]["HTTPHeaders"]["date"]).timestamp()
        return FileInfo(path=bare, size=len(data), modified=modified, mime_type=mime)

    def delete(self, name: str) -> None:
        """Remove a file; S3 deletes always succeed, so the file's existence is checked first."""
        bare, key = self._key(name)
        with self._errors(bare):
            self.client.head_object(Bucket=self.bucket, Key=key)
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def presigned_url(self, name: str, expires: int = 3600) -> str:
        """Return a presigned GET URL (valid ``expires`` seconds) that saves the file under its name.

        The URL is made whether or not the file exists; only signing is needed, no request to S3.
        """
        bare, key = self._key(name)
        params = {
            "Bucket": self.bucket,
            "Key": key,
            "ResponseContentDisposition": f"attachment; filename*=UTF-8''{quote(bare)}",
        }
        with self._errors(bare):
            return str(self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires))

    def download_url(self, name: str, expires: int = 3600) -> str | None:
        """A presigned URL for a file larger than ``presign_bytes``, else ``None`` (the UI streams small files)."""
        bare, key = self._key(name)
        with self._errors(bare):
            size = int(self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        return self.presigned_url(bare, expires) if size > self.presign_bytes else None
