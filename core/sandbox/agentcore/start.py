"""How an AgentCore session starts, and how any app replica finds it again.

The start request follows ``StartCodeInterpreterSessionRequest`` of botocore's service model
(``bedrock-agentcore`` 2024-02-28): ``name``, ``sessionTimeoutSeconds``, ``certificates`` (Secrets Manager
locations of root CAs, 1 to 200), ``filesystemConfigurations`` (S3 Files or EFS access points, up to 10, each at a
``mountPath``) and ``clientToken``. The token is the same for the same conversation, attempt and request, so a
start that is retried (by botocore, by this app, or by two replicas at once) makes one session, not two.

The session id is kept with the conversation (``{user}/{conversation}/agentcore-session.json`` in the
conversation store: the S3 bucket, or the data folder), so the replica that serves the conversation next, or this
one after a restart, reattaches the session once ``GetCodeInterpreterSession`` says it is ``READY``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from core.config import Settings
from core.errors import CloudError, StorageError
from core.files.objects import BucketStore, FolderStore, ObjectStore
from core.workspace import NAMESPACE

logger = logging.getLogger(__name__)

RECORD_NAME = "agentcore-session.json"
# The patterns of the service model's shapes S3FilesAccessPointArn, S3FilesFileSystemArn, EfsAccessPointArn,
# EfsFileSystemArn and SecretArn.
S3FILES_ACCESS_POINT = re.compile(
    r"arn:aws[-a-z]*:s3files:(?P<where>[a-z0-9-]+:[0-9]{12}):file-system/(?P<fs>fs-[0-9a-f]{17,40})"
    r"/access-point/fsap-[0-9a-f]{17,40}"
)
S3FILES_FILE_SYSTEM = re.compile(r"arn:aws[-a-z]*:s3files:[a-z0-9-]+:[0-9]{12}:file-system/fs-[0-9a-f]{17,40}")
EFS_ACCESS_POINT = re.compile(r"arn:aws[-a-z]*:elasticfilesystem:[0-9a-z-:]+:access-point/fsap-[0-9a-f]{8,40}")
EFS_FILE_SYSTEM = re.compile(r"arn:aws[-a-z]*:elasticfilesystem:[a-z0-9-]+:[0-9]{12}:file-system/fs-[0-9a-f]{8,40}")
SECRET_ARN = re.compile(r"arn:aws(-[a-z-]+)?:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[a-zA-Z0-9/_+=.@-]+")


@dataclass(frozen=True)
class WorkspaceMount:
    """The workspace's file system as mounted into every AgentCore session.

    Attributes:
        kind: ``s3FilesConfiguration`` or ``efsConfiguration`` (the member of ``ToolsFileSystemConfiguration``).
        access_point: The access point's ARN.
        file_system: The ARN of the file system that owns it.
        path: Where it is mounted inside the session, e.g. ``/mnt/workspace``.

    """

    kind: str
    access_point: str
    file_system: str
    path: str

    def configuration(self) -> dict[str, Any]:
        """The ``ToolsFileSystemConfiguration`` union (one member set) of the start request."""
        member = {"accessPointArn": self.access_point, "fileSystemArn": self.file_system, "mountPath": self.path}
        return {self.kind: member}

    def folder(self, user_id: str, conversation_id: str) -> str:
        """A conversation's workspace inside the session: where its S3 objects appear below the app's prefix."""
        return f"{self.path.rstrip('/')}/{user_id}/{conversation_id}/{NAMESPACE}"


def workspace_mount(settings: Settings) -> WorkspaceMount | None:
    """The mount the settings ask for, or ``None`` (files are then copied through the app as before).

    Raises:
        CloudError: For an ARN the service would refuse, or a workspace the app does not read from S3.

    """
    access_point = settings.agentcore_workspace_mount.strip()
    if not access_point:
        return None
    if settings.workspace_backend != "s3":
        raise CloudError(
            "INTERPRETER_AGENTCORE_WORKSPACE_MOUNT needs INTERPRETER_WORKSPACE_BACKEND=s3: the app reads the "
            "workspace from the bucket the mounted file system writes to."
        )
    file_system = settings.agentcore_workspace_filesystem.strip()
    if match := S3FILES_ACCESS_POINT.fullmatch(access_point):
        partition = access_point.split(":")[1]
        file_system = file_system or f"arn:{partition}:s3files:{match['where']}:file-system/{match['fs']}"
        kind, file_system_pattern = "s3FilesConfiguration", S3FILES_FILE_SYSTEM
    elif EFS_ACCESS_POINT.fullmatch(access_point):
        kind, file_system_pattern = "efsConfiguration", EFS_FILE_SYSTEM
    else:
        raise CloudError(
            f"INTERPRETER_AGENTCORE_WORKSPACE_MOUNT {access_point!r} is not the ARN of an S3 Files or EFS access "
            "point (arn:aws:s3files:REGION:ACCOUNT:file-system/fs-.../access-point/fsap-...)."
        )
    if not file_system_pattern.fullmatch(file_system):
        raise CloudError(
            f"INTERPRETER_AGENTCORE_WORKSPACE_FILESYSTEM {file_system!r} is not the ARN of the file system that owns "
            f"the access point (an EFS access point's ARN does not name it, so it must be set)."
        )
    return WorkspaceMount(kind, access_point, file_system, settings.agentcore_workspace_mount_path)


def certificates(settings: Settings) -> list[dict[str, Any]]:
    """The ``Certificates`` list of the start request: one Secrets Manager location per configured secret.

    Raises:
        CloudError: For an ARN the service would refuse.

    """
    for arn in settings.agentcore_certificates:
        if not SECRET_ARN.fullmatch(arn):
            raise CloudError(
                f"INTERPRETER_AGENTCORE_CERTIFICATES: {arn!r} is not a Secrets Manager secret ARN "
                "(arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)."
            )
    return [{"location": {"secretsManager": {"secretArn": arn}}} for arn in settings.agentcore_certificates]


def start_request(settings: Settings, name: str, mount: WorkspaceMount | None) -> dict[str, Any]:
    """The members of ``StartCodeInterpreterSessionRequest`` the settings give (the token is added later)."""
    request: dict[str, Any] = {
        "codeInterpreterIdentifier": settings.agentcore_identifier,
        "name": name,
        "sessionTimeoutSeconds": settings.agentcore_session_timeout,
    }
    if found := certificates(settings):
        request["certificates"] = found
    if mount is not None:
        request["filesystemConfigurations"] = [mount.configuration()]
    return request


def client_token(owner: str, attempt: int, request: dict[str, Any]) -> str:
    """The ``clientToken`` of one start: the same for the same conversation, attempt and request.

    The service model's ``ClientToken``: 33 to 256 characters matching ``[a-zA-Z0-9](-*[a-zA-Z0-9]){0,256}``.
    A changed request (another timeout, say) gets another token, so the service never sees one token twice with
    different parameters (``IdempotentParameterMismatchException``).
    """
    digest = hashlib.sha256(json.dumps([owner, request], sort_keys=True).encode()).hexdigest()[:48]
    return f"ci{digest}-{attempt}"


@dataclass
class SessionRecord:
    """What is kept with a conversation about its AgentCore session.

    Attributes:
        session_id: The session's id.
        identifier: The code interpreter it runs in.
        attempt: How many sessions this conversation has started (part of the client token).
        holder: The app replica (a random id per sandbox object) that started or last reattached it; only
            the holder stops it when idle, so one replica does not stop a session another one uses.

    """

    session_id: str
    identifier: str
    attempt: int
    holder: str


class SessionRecords:
    """The record of one conversation, in the conversation store the settings choose.

    Reading or writing it never fails a run: without it, the session is simply not shared.

    Args:
        settings: ``workspace_backend`` picks the store (the bucket, or the data folder).
        user_id: The conversation's owner.
        conversation_id: The conversation.
        objects: A store to use instead (tests).

    """

    def __init__(
        self, settings: Settings, user_id: str, conversation_id: str, objects: ObjectStore | None = None
    ) -> None:
        self.key = f"{user_id}/{conversation_id}/{RECORD_NAME}"
        self._settings = settings
        self._objects = objects

    @property
    def objects(self) -> ObjectStore:
        """The store, made at first use (a bucket client costs tens of milliseconds)."""
        if self._objects is None:
            settings = self._settings
            if settings.workspace_backend == "s3":
                self._objects = BucketStore(settings.s3_bucket, settings.s3_prefix)
            else:
                self._objects = FolderStore(settings.sessions_dir)
        return self._objects

    def load(self) -> SessionRecord | None:
        """The record, or ``None`` when there is none or it cannot be read."""
        try:
            data = self.objects.get(self.key)
            return None if data is None else SessionRecord(**json.loads(data))
        except (StorageError, ValueError, TypeError) as error:
            logger.warning("The AgentCore session record %s cannot be read: %s", self.key, error)
            return None

    def save(self, record: SessionRecord) -> None:
        """Keep the record (a failure is logged: the session then is not found by other replicas)."""
        with contextlib.suppress(StorageError):
            self.objects.put(self.key, json.dumps(asdict(record)).encode())
            return
        logger.warning("The AgentCore session record %s cannot be written", self.key)


class SessionGone(Exception):
    """The AgentCore session expired, was stopped or is unknown."""


class SessionStarter:
    """Starts, reattaches and lets go of one conversation's AgentCore session.

    Args:
        settings: The interpreter, timeout, certificates and workspace mount.
        interpreter: The ``CodeInterpreter`` whose data-plane client makes the calls (its ``identifier`` and
            ``session_id`` are set to the session in use, for its ``invoke`` and ``stop``).
        name: The session's name.
        aws: Runs one AWS call by action name, mapping errors (``SessionGone`` for a session that is gone).
        conversation: The owner and id of the conversation, to keep the session with it; without it the
            session is this object's alone.
        records: Where the record is kept (default: the conversation store of the settings).

    """

    def __init__(
        self,
        settings: Settings,
        interpreter: Any,
        name: str,
        aws: Callable[[str, Callable[[], Any]], Any],
        *,
        conversation: tuple[str, str] | None = None,
        records: SessionRecords | None = None,
    ) -> None:
        self.interpreter = interpreter
        self.aws = aws
        self.identifier = settings.agentcore_identifier
        self.mount = workspace_mount(settings)
        self.request = start_request(settings, name, self.mount)
        if records is None and conversation is not None:
            records = SessionRecords(settings, *conversation)
        self.records = records
        self.owner = "/".join(conversation) if conversation else secrets.token_hex(16)
        self.holder = secrets.token_hex(8)
        self.attempt = 0

    def _use(self, session_id: str) -> str:
        self.interpreter.identifier, self.interpreter.session_id = self.identifier, session_id
        return session_id

    def attach(self) -> str | None:
        """Reattach the conversation's recorded session if ``GetCodeInterpreterSession`` says it is ``READY``."""
        record = self.records.load() if self.records is not None else None
        if self.records is None or record is None or record.identifier != self.identifier:
            return None
        self.attempt = max(self.attempt, record.attempt)
        client = self.interpreter.data_plane_client
        try:
            answer = self.aws(
                "GetCodeInterpreterSession",
                lambda: client.get_code_interpreter_session(
                    codeInterpreterIdentifier=self.identifier, sessionId=record.session_id
                ),
            )
        except SessionGone:
            return None
        if answer.get("status") != "READY":
            return None
        self.records.save(SessionRecord(record.session_id, self.identifier, record.attempt, self.holder))
        return self._use(record.session_id)

    def start(self) -> str:
        """Start a new session (the next attempt, with its idempotency token) and keep it with the conversation."""
        attempt = self.attempt + 1  # counted once it worked: a start tried again after a failure sends the same token
        request = {**self.request, "clientToken": client_token(self.owner, attempt, self.request)}
        client = self.interpreter.data_plane_client
        answer = self.aws("StartCodeInterpreterSession", lambda: client.start_code_interpreter_session(**request))
        session_id, self.attempt = str(answer["sessionId"]), attempt
        if self.records is not None:
            self.records.save(SessionRecord(session_id, self.identifier, attempt, self.holder))
        return self._use(session_id)

    def holds(self, session_id: str) -> bool:
        """Whether this replica may stop the session: nobody else reattached it since this one did."""
        record = self.records.load() if self.records is not None else None
        return record is None or record.session_id != session_id or record.holder == self.holder

    @property
    def shared(self) -> bool:
        """Whether the session is kept with the conversation (then closing the app leaves it running)."""
        return self.records is not None
