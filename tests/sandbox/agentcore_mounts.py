"""The AgentCore emulator's file systems and certificates: what ``StartCodeInterpreterSession`` attaches.

``filesystemConfigurations`` (the service model's ``ToolsFileSystemConfigurations``: a union of
``s3FilesConfiguration`` and ``efsConfiguration``, each ``accessPointArn``, ``fileSystemArn``, ``mountPath``) mount
a file system into the session. The emulator keeps each registered file system as a folder that outlives
sessions, bound read-write at the ``mountPath`` of the session's bubblewrap sandbox. An S3 Files file system is
the objects of a bucket below a prefix, so its folder is synchronised with the bucket (moto's server) before and
after every call: objects appear as files, files written, changed or removed in the session become objects, or
are deleted. How soon the real S3 Files shows a write in the bucket is not known here: the emulator does it when
the call ends.

``certificates`` (``Certificates``: ``location.secretsManager.secretArn``) name secrets holding PEM root CAs.
The emulator reads them from Secrets Manager (moto's server) and lets the session's sandbox trust them through
the local backend's ``ca_bundle``; a secret that does not exist refuses the start (the emulator's choice of error:
``ResourceNotFoundException``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.sandbox.local.isolation import Bind
from core.sandbox.local.sandbox import LocalSandbox


@dataclass
class FakeFileSystem:
    """One file system the emulator can mount: a folder, and for S3 Files the bucket and prefix behind it.

    Attributes:
        access_point: The access point's ARN (what a configuration names).
        file_system: The owning file system's ARN (must match the configuration's ``fileSystemArn``).
        folder: The file system's contents (they outlive sessions).
        s3: A boto3 S3 client, the bucket and the key prefix the files mirror (S3 Files only).

    """

    access_point: str
    file_system: str
    folder: Path
    s3: tuple[Any, str, str] | None = None
    synced: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Each file's (size, mtime_ns) when last synchronised, to tell changed and removed files."""

    def _key(self, relative: str) -> str:
        assert self.s3 is not None
        return f"{self.s3[2].strip('/')}/{relative}" if self.s3[2].strip("/") else relative

    def _files(self) -> dict[str, tuple[int, int]]:
        found = {}
        for path in self.folder.rglob("*"):
            if path.is_file() and not path.is_symlink():
                stat = path.stat()
                found[path.relative_to(self.folder).as_posix()] = (stat.st_size, stat.st_mtime_ns)
        return found

    def pull(self) -> None:
        """Objects of the bucket that the folder lacks become files (as S3 Files shows new objects)."""
        if self.s3 is None:
            return
        client, bucket, _ = self.s3
        start = self._key("")
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=start):
            for item in page.get("Contents", []):
                relative = item["Key"][len(start) :]
                target = self.folder / relative
                if relative and not relative.endswith("/") and not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
        self.synced = self._files()

    def push(self) -> None:
        """Files written, changed or removed in the session are written to or deleted from the bucket."""
        if self.s3 is None:
            return
        client, bucket, _ = self.s3
        now = self._files()
        for relative, state in now.items():
            if self.synced.get(relative) != state and "/." not in f"/{relative}":  # hidden: a copy in progress
                client.put_object(Bucket=bucket, Key=self._key(relative), Body=(self.folder / relative).read_bytes())
        for relative in set(self.synced) - set(now):
            client.delete_object(Bucket=bucket, Key=self._key(relative))
        self.synced = now


def mount(sandbox: LocalSandbox, system: FakeFileSystem, mount_path: str) -> None:
    """Bind the file system's folder at ``mount_path`` in every process of the session's sandbox.

    Raises:
        AssertionError: Without bubblewrap (a path such as ``/mnt/workspace`` cannot be emulated then).

    """
    assert sandbox.isolation.use_bwrap, "the emulator mounts file systems with bubblewrap"
    system.folder.mkdir(parents=True, exist_ok=True)
    os.chmod(system.folder, 0o755)
    sandbox.isolation.binds.append(Bind(system.folder, mount_path.rstrip("/"), writable=True))
