"""The session workspace: the flat, session-isolated ``code-interpreter/`` namespace."""

from core.workspace.base import NAMESPACE, Workspace, validate_name

__all__ = ["NAMESPACE", "Workspace", "validate_name"]
