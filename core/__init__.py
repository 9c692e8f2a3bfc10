"""The engine of the code-interpreter chat app: sandbox, workspace, tools and sessions (no UI code here)."""
