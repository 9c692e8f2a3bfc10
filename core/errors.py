"""The project's exception tree.

Errors in the user's code are not exceptions: they come back as data in an
:class:`~core.types.ExecutionResult`. Exceptions are for the infrastructure and for bad input::

    InterpreterError
    ├── InvalidPathError        a path or workspace name is refused (``..``, absolute, NUL, hidden, too long)
    ├── FileNotFoundInSandbox   a named sandbox or workspace file does not exist
    ├── UploadRejected          an upload is refused (zip slip, zip bomb, encrypted entry, too large)
    ├── StorageError            the workspace or conversation storage (S3) failed
    ├── QuotaExceeded           a per-session limit (disk, file size) is reached
    ├── TablePreviewError       a file's bytes cannot be read as a table for a preview
    ├── ModelConfigError        the chosen model cannot be built (missing setting or package)
    └── SandboxError            the sandbox could not start or could not be reached
        ├── SandboxClosed       the session was closed
        └── CloudError          an AWS request of a cloud sandbox (AgentCore) failed; never a raw botocore error
            ├── AccessDenied          the AWS role lacks a permission (named in the message)
            ├── Throttled             AWS is throttling requests; try again in a moment
            ├── CredentialsMissing    AWS credentials are missing or expired
            ├── CloudRequestInvalid   AWS refused a request as invalid (ValidationException)
            └── CloudQuotaExceeded    an AWS service quota is reached (also a QuotaExceeded)

Every message is written for the person using the app: plain words, what happened and what to do.
"""


class InterpreterError(Exception):
    """Base class of every error the engine raises on purpose."""


class InvalidPathError(InterpreterError, ValueError):
    """A path or workspace name was refused."""


class FileNotFoundInSandbox(InterpreterError, FileNotFoundError):
    """A named file does not exist in the sandbox or the workspace."""


class UploadRejected(InterpreterError, ValueError):
    """An uploaded file or archive was refused; nothing of it was kept."""


class QuotaExceeded(InterpreterError):
    """A per-session limit was reached."""


class ModelConfigError(InterpreterError, ValueError):
    """The chosen model provider cannot be built: a setting or a package is missing."""


class TablePreviewError(InterpreterError, ValueError):
    """A file could not be read as a table (bad CSV, not an Excel workbook, ...); only its preview fails."""


class SandboxError(InterpreterError, RuntimeError):
    """The sandbox could not be started or reached."""


class SandboxClosed(SandboxError):
    """The session's sandbox was closed."""


class StorageError(InterpreterError):
    """Workspace or conversation storage (a folder or S3) failed."""


class CloudError(SandboxError):
    """An AWS request of a cloud sandbox failed; the message says what to do."""


class AccessDenied(CloudError):
    """The AWS role lacks the permission the message names."""


class Throttled(CloudError):
    """AWS is throttling requests; the same call may work a moment later."""


class CredentialsMissing(CloudError):
    """There are no AWS credentials, or they expired."""


class CloudRequestInvalid(CloudError):
    """AWS refused a request as invalid."""


class CloudQuotaExceeded(CloudError, QuotaExceeded):
    """An AWS service quota (sessions, request size, ...) is reached."""
