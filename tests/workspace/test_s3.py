"""The S3 workspace against real S3 over HTTP: moto's server on 127.0.0.1, optionally behind a fault proxy."""

from __future__ import annotations

import os
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.retries.standard import ExponentialBackoff

from core.config import Settings
from core.errors import FileNotFoundInSandbox, StorageError
from core.workspace.s3 import S3Workspace
from tests.conftest import BUCKET
from tests.servers import free_port
from tests.workspace.contract import WorkspaceContract
from tests.workspace.fault_proxy import INTERNAL_ERROR, SLOW_DOWN, Fault, FaultProxy

PREFIX = "tenant"


@pytest.fixture(scope="module")
def s3(moto_url: str) -> Any:
    return boto3.client("s3", endpoint_url=moto_url)


@pytest.fixture
def make_workspace(s3: Any) -> Callable[..., S3Workspace]:
    """Workspaces on the moto server; each call gets a new conversation unless one is given."""

    def make(user: str = "alice", conversation: str = "", **kwargs: Any) -> S3Workspace:
        kwargs.setdefault("client", s3)
        return S3Workspace(BUCKET, PREFIX, user, conversation or f"conv-{uuid.uuid4().hex}", **kwargs)

    return make


@pytest.fixture
def workspace(make_workspace: Callable[..., S3Workspace]) -> S3Workspace:
    return make_workspace()


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Keep botocore's retry delays (computed as usual) but wait a hundredth of them; returns the delays."""
    delays: list[float] = []
    original = ExponentialBackoff.delay_amount

    def quick(self: ExponentialBackoff, context: Any) -> float:
        delay = float(original(self, context))
        delays.append(delay)
        return delay / 100

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", quick)
    return delays


@pytest.fixture
def proxy(moto_url: str) -> Iterator[FaultProxy]:
    with FaultProxy(moto_url) as running:
        yield running


class TestS3Workspace(WorkspaceContract):
    def test_default_client_follows_standard_aws_configuration(
        self, moto_url: str, s3: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_url)  # read by botocore itself
        settings = Settings(s3_bucket=BUCKET, s3_prefix="/", s3_presign_mb=3)
        workspace = S3Workspace.from_settings(settings, "bob", "conv-env")
        assert workspace.presign_bytes == 3 * 1024 * 1024
        workspace.write("env.txt", b"via the environment")
        assert workspace.client.meta.endpoint_url == moto_url
        assert workspace.client.meta.config.retries == {"total_max_attempts": 5, "mode": "standard"}
        obj = s3.get_object(Bucket=BUCKET, Key="bob/conv-env/code-interpreter/env.txt")  # empty prefix: no "/"
        assert obj["Body"].read() == b"via the environment"
        assert workspace.read("env.txt") == b"via the environment"

    def test_settings_without_bucket_are_refused(self) -> None:
        with pytest.raises(StorageError, match="INTERPRETER_S3_BUCKET"):
            S3Workspace.from_settings(Settings(s3_bucket=""), "alice", "conv-1")

    def test_key_layout_and_content_type(self, workspace: S3Workspace, s3: Any) -> None:
        conversation = workspace.key_prefix.split("/")[2]
        workspace.write("chart.png", b"\x89PNG")
        key = f"tenant/alice/{conversation}/code-interpreter/chart.png"
        head = s3.head_object(Bucket=BUCKET, Key=key)
        assert (head["ContentType"], head["ContentLength"]) == ("image/png", 4)
        listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"tenant/alice/{conversation}/")
        assert [item["Key"] for item in listed["Contents"]] == [key]

    def test_prefix_slashes_are_stripped_and_ids_checked(self, s3: Any) -> None:
        assert S3Workspace(BUCKET, "/a/b/", "u", "c", client=s3).key_prefix == "a/b/u/c/code-interpreter/"
        with pytest.raises(ValueError, match="user id"):
            S3Workspace(BUCKET, PREFIX, "../bob", "c", client=s3)

    def test_foreign_keys_under_the_prefix_are_ignored(self, workspace: S3Workspace, s3: Any) -> None:
        for extra in ["sub/nested.txt", ".hidden", "back\\slash.txt"]:
            s3.put_object(Bucket=BUCKET, Key=workspace.key_prefix + extra, Body=b"x")
        workspace.write("real.txt", b"1")
        assert [f.path for f in workspace.list()] == ["real.txt"]
        with pytest.raises(FileNotFoundInSandbox):
            workspace.read("sub")

    def test_users_and_conversations_are_isolated(self, make_workspace: Callable[..., S3Workspace]) -> None:
        conversation = f"conv-{uuid.uuid4().hex}"
        spaces = {
            ("alice", conversation): make_workspace("alice", conversation),
            ("bob", conversation): make_workspace("bob", conversation),
            ("alice", "other"): make_workspace("alice", f"other-{uuid.uuid4().hex}"),
        }
        for owner, space in spaces.items():
            space.write("same.txt", repr(owner).encode())
        for owner, space in spaces.items():
            assert space.read("same.txt") == repr(owner).encode()
            assert [f.path for f in space.list()] == ["same.txt"]
        spaces["bob", conversation].delete("same.txt")
        assert spaces["alice", conversation].read("same.txt") == repr(("alice", conversation)).encode()
        with pytest.raises(FileNotFoundInSandbox):
            spaces["bob", conversation].read("same.txt")

    @pytest.mark.slow
    def test_listing_reads_every_page(self, workspace: S3Workspace, s3: Any) -> None:
        names = [f"file-{index:04d}.txt" for index in range(1001)]  # one more than a page of ListObjectsV2
        with ThreadPoolExecutor(max_workers=10) as pool:  # botocore keeps 10 connections per client
            list(pool.map(lambda name: workspace.write(name, name.encode()), names))
        pages: list[object] = []

        def count_page(**kwargs: object) -> None:
            pages.append(kwargs)

        s3.meta.events.register("before-call.s3.ListObjectsV2", count_page, unique_id="count-pages")
        try:
            listed = workspace.list()
        finally:
            s3.meta.events.unregister("before-call.s3.ListObjectsV2", unique_id="count-pages")
        assert [f.path for f in listed] == names
        assert {f.size for f in listed} == {len(names[0])}
        assert len(pages) == 2  # S3 returns at most 1,000 keys per page

    def test_large_files_get_a_presigned_url_that_downloads_them(
        self, moto_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_url)  # the default client: SigV4 presigning
        workspace = S3Workspace(BUCKET, PREFIX, "alice", f"conv-{uuid.uuid4().hex}", presign_bytes=1024)
        data = os.urandom(4096)
        workspace.write("big résumé.bin", data)
        workspace.write("small.txt", b"tiny")
        url = workspace.download_url("big résumé.bin", expires=60)
        assert url is not None and "X-Amz-Signature=" in url
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.read() == data
            assert response.headers["Content-Disposition"] == "attachment; filename*=UTF-8''big%20r%C3%A9sum%C3%A9.bin"
        assert workspace.download_url("small.txt") is None
        assert workspace.presigned_url("small.txt").startswith("http://127.0.0.1:")
        with pytest.raises(FileNotFoundInSandbox, match=r"nope\.bin"):
            workspace.download_url("nope.bin")

    def test_missing_bucket_is_named(self, s3: Any) -> None:
        workspace = S3Workspace("no-such-bucket", PREFIX, "alice", "conv-1", client=s3)
        for action in (workspace.list, lambda: workspace.write("x.txt", b"1"), lambda: workspace.read("x.txt")):
            with pytest.raises(StorageError, match=r"The S3 bucket 'no-such-bucket' does not exist"):
                action()

    def test_missing_credentials_are_explained(
        self, moto_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]:
            monkeypatch.delenv(name)
        (tmp_path / "empty").write_text("")
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "empty"))
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "empty"))
        session = boto3.session.Session(aws_access_key_id=None, aws_secret_access_key=None, region_name="us-east-1")
        client = session.client("s3", endpoint_url=moto_url)
        workspace = S3Workspace(BUCKET, PREFIX, "alice", "conv-1", client=client)
        for action in (workspace.list, lambda: workspace.write("x.txt", b"1"), lambda: workspace.presigned_url("x")):
            with pytest.raises(StorageError, match="No AWS credentials were found"):
                action()

    def test_unreachable_endpoint_is_named(self, fast_backoff: list[float]) -> None:
        port = free_port()  # nothing listens on it
        client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", config=Config(retries={"max_attempts": 2}))
        workspace = S3Workspace(BUCKET, PREFIX, "alice", "conv-1", client=client)
        with pytest.raises(StorageError, match=rf"S3 cannot be reached at http://127\.0\.0\.1:{port}"):
            workspace.read("x.txt")


class TestS3Faults:
    """Errors injected over HTTP by a proxy in front of the moto server; the client is the default one."""

    @pytest.fixture
    def workspace(self, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch) -> S3Workspace:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy.url)
        return S3Workspace(BUCKET, PREFIX, "alice", f"conv-{uuid.uuid4().hex}")

    def test_a_few_faults_are_retried(
        self, workspace: S3Workspace, proxy: FaultProxy, fast_backoff: list[float]
    ) -> None:
        proxy.fail_next(2, SLOW_DOWN)
        workspace.write("data.csv", b"a,b\n1,2\n")
        assert [method for method, _ in proxy.requests] == ["PUT"] * 3
        assert proxy.faults_served == 2

        proxy.reset()
        proxy.fail_next(2, INTERNAL_ERROR)
        assert workspace.read("data.csv") == b"a,b\n1,2\n"
        assert [method for method, _ in proxy.requests] == ["GET"] * 3
        assert proxy.faults_served == 2
        assert len(fast_backoff) == 4  # botocore waited before each retry

    def test_throttling_that_does_not_stop_is_explained(
        self, workspace: S3Workspace, proxy: FaultProxy, fast_backoff: list[float]
    ) -> None:
        proxy.fail_always(SLOW_DOWN)
        message = "S3 is throttling or failing (SlowDown/503) even after 5 attempts; try again in a moment."
        with pytest.raises(StorageError) as caught:
            workspace.read("data.csv")
        assert str(caught.value) == message
        assert len(proxy.requests) == 5 == proxy.faults_served

        proxy.reset()
        proxy.fail_always(INTERNAL_ERROR)
        with pytest.raises(StorageError, match=r"\(InternalError/500\) even after 5 attempts"):
            workspace.list()
        assert len(proxy.requests) == 5

    @pytest.mark.parametrize(
        ("action", "permission"),
        [
            pytest.param(lambda w: w.list(), "s3:ListBucket", id="list"),
            pytest.param(lambda w: w.read("x.txt"), "s3:GetObject", id="read"),
            pytest.param(lambda w: w.write("x.txt", b"1"), "s3:PutObject", id="write"),
            pytest.param(lambda w: w.delete("x.txt"), "s3:GetObject", id="delete-checks-first"),
        ],
    )
    def test_access_denied_names_the_permission(
        self, workspace: S3Workspace, proxy: FaultProxy, action: Callable[[S3Workspace], object], permission: str
    ) -> None:
        proxy.fail_always(Fault(403, "AccessDenied", "Access Denied"))
        with pytest.raises(StorageError, match=f"need the {permission} permission"):
            action(workspace)
        assert len(proxy.requests) == 1  # not retried

    def test_delete_without_delete_permission(self, workspace: S3Workspace, proxy: FaultProxy) -> None:
        workspace.write("x.txt", b"1")
        proxy.fail_always(Fault(403, "AccessDenied", "Access Denied"), methods=["DELETE"])
        with pytest.raises(StorageError, match="need the s3:DeleteObject permission"):
            workspace.delete("x.txt")
        assert [method for method, _ in proxy.requests] == ["PUT", "HEAD", "DELETE"]
        assert workspace.read("x.txt") == b"1"

    def test_refused_credentials_are_explained(self, workspace: S3Workspace, proxy: FaultProxy) -> None:
        proxy.fail_always(Fault(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist."))
        with pytest.raises(StorageError, match=r"refused the AWS credentials \(InvalidAccessKeyId\)"):
            workspace.write("x.txt", b"1")
