"""A minimal object store (put, get, list, delete by prefix) over a folder or an S3 bucket.

Conversations and transcripts are kept through it, so the same code serves one machine (``data_dir``) and
several app replicas sharing a bucket.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
from pathlib import Path
from typing import Any, Protocol

from core.errors import StorageError
from core.workspace.local import atomic_write

# botocore's "max_attempts" counts retries; "total_max_attempts" counts requests: five in all.
S3_RETRIES = {"total_max_attempts": 5, "mode": "standard"}


class ObjectStore(Protocol):
    """Keys are ``/``-separated paths below the store's root."""

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or ``None`` when there is none."""
        ...

    def put(self, key: str, data: bytes) -> None:
        """Create or replace an object (atomically)."""
        ...

    def children(self, prefix: str) -> list[str]:
        """The names one level below ``prefix`` (folders or objects)."""
        ...

    def keys(self, prefix: str) -> list[str]:
        """Every key below ``prefix``, sorted."""
        ...

    def delete_tree(self, prefix: str) -> None:
        """Delete every object below ``prefix``."""
        ...


class FolderStore:
    """Objects as files below a folder.

    Args:
        root: The folder.

    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def get(self, key: str) -> bytes | None:
        """The file's bytes, or ``None``."""
        try:
            return (self.root / key).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def put(self, key: str, data: bytes) -> None:
        """Write the file atomically."""
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data)

    def children(self, prefix: str) -> list[str]:
        """The entries of a folder."""
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            return sorted(os.listdir(self.root / prefix))
        return []

    def keys(self, prefix: str) -> list[str]:
        """The files below a folder, as keys."""
        base = self.root / prefix
        if not base.is_dir():
            return []
        return sorted(p.relative_to(self.root).as_posix() for p in base.rglob("*") if p.is_file())

    def delete_tree(self, prefix: str) -> None:
        """Remove a folder and everything in it."""
        shutil.rmtree(self.root / prefix, ignore_errors=True)


def s3_client() -> Any:
    """A boto3 S3 client with retries; standard AWS configuration (profiles, AWS_ENDPOINT_URL_S3) applies.

    Clients are shared per endpoint and profile, since making one costs tens of milliseconds.
    """
    keys = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION")
    return _s3_client(tuple(os.environ.get(key, "") for key in keys))


@functools.lru_cache(maxsize=8)
def _s3_client(_environment: tuple[str, ...]) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(retries=S3_RETRIES, connect_timeout=5, read_timeout=30, signature_version="s3v4")  # type: ignore[arg-type]
    return boto3.client("s3", config=config)


class BucketStore:
    """Objects in an S3 bucket below a prefix.

    Args:
        bucket: The bucket.
        prefix: The key prefix (no leading or trailing ``/`` needed).
        client: A boto3 S3 client (default: :func:`s3_client`).

    """

    def __init__(self, bucket: str, prefix: str, client: Any | None = None) -> None:
        if not bucket:
            raise StorageError("No S3 bucket is set: set INTERPRETER_S3_BUCKET.")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client or s3_client()

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, action: str, **arguments: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, action)(Bucket=self.bucket, **arguments)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404"):
                return None
            if code == "NoSuchBucket":
                raise StorageError(f"The S3 bucket '{self.bucket}' does not exist.") from None
            raise StorageError(f"S3 refused {action} on '{self.bucket}': {code or exc}.") from None
        except BotoCoreError as exc:
            raise StorageError(f"S3 cannot be used: {exc}") from None

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or ``None``."""
        response = self._call("get_object", Key=self._key(key))
        return None if response is None else bytes(response["Body"].read())

    def put(self, key: str, data: bytes) -> None:
        """Store an object (S3 writes are atomic)."""
        self._call("put_object", Key=self._key(key), Body=data)

    def _pages(self, prefix: str, **arguments: Any) -> list[dict[str, Any]]:
        pages, token = [], None
        while True:
            extra: dict[str, str] = {"ContinuationToken": token} if token else {}
            page = self._call("list_objects_v2", Prefix=self._key(prefix.strip("/")) + "/", **arguments, **extra)
            pages.append(page or {})
            token = (page or {}).get("NextContinuationToken")
            if not token:
                return pages

    def children(self, prefix: str) -> list[str]:
        """The names one level below ``prefix``."""
        names = set()
        for page in self._pages(prefix, Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                names.add(common["Prefix"].rstrip("/").rsplit("/", 1)[-1])
            for item in page.get("Contents", []):
                names.add(item["Key"].rsplit("/", 1)[-1])
        return sorted(names)

    def keys(self, prefix: str) -> list[str]:
        """Every key below ``prefix``, relative to the store's prefix."""
        start = len(self.prefix) + 1 if self.prefix else 0
        return sorted(item["Key"][start:] for page in self._pages(prefix) for item in page.get("Contents", []))

    def delete_tree(self, prefix: str) -> None:
        """Delete every object below ``prefix``, 1,000 at a time."""
        keys = [self._key(key) for key in self.keys(prefix)]
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            self._call("delete_objects", Delete={"Objects": batch, "Quiet": True})
