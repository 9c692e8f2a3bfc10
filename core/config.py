"""Settings, read from the environment (prefix ``INTERPRETER_``) and from a ``.env`` file."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting of the app. Each field is documented in the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="INTERPRETER_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Where sessions, sandboxes and workspaces live.")
    sandbox_network: Literal["none", "allowlist", "public"] = Field(
        default="public",
        description="'public': internet reachable (not the host); 'allowlist': only the domains of "
        "sandbox_allowed_domains, through a proxy; 'none': no network.",
    )
    sandbox_allowed_domains: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="With network 'allowlist': comma-separated host names sandbox code may reach over HTTP and "
        "HTTPS ('*.example.com' for its subdomains, ':port' for a port other than 80 and 443).",
    )
    sandbox_domain_headers: SecretStr = Field(
        default=SecretStr(""),
        description="With network 'allowlist': a JSON object of hosts to headers the proxy adds to their plain-HTTP "
        'requests, sent on over HTTPS, e.g. \'{"api.example.com": {"Authorization": "Bearer ..."}}\'; '
        "sandbox code calls http://api.example.com/ and never sees the values.",
    )
    sandbox_allowed_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="With network 'public': comma-separated CIDRs sandbox code may reach although they are blocked "
        "(private, link-local, this machine's); a longer allowed prefix wins over a shorter block.",
    )
    execution_timeout: float = Field(default=300, gt=0, description="Seconds a run may take before it is interrupted.")
    memory_limit_mb: int = Field(default=2048, ge=64, description="Memory limit of one session's sandbox.")
    max_upload_mb: int = Field(default=200, ge=1, description="Largest upload accepted, in MB.")
    disk_limit_mb: int = Field(default=5120, ge=1, description="Disk space one session's sandbox may use, in MB.")
    max_file_mb: int = Field(default=1024, ge=1, description="Largest single file sandbox code may write, in MB.")
    max_processes: int = Field(default=256, ge=8, description="Most processes and threads one sandbox may run.")
    cpu_limit: float = Field(default=1.0, gt=0, description="CPU cores one session's sandbox may use (cgroup).")
    user_max_sessions: int = Field(default=5, ge=1, description="Sessions one person may have open at once.")
    user_disk_limit_mb: int = Field(
        default=20480, ge=1, description="Disk space all of one person's conversations may use, in MB."
    )
    user_max_files: int = Field(default=200_000, ge=1, description="Files all of one person's conversations may hold.")
    max_output_chars: int = Field(
        default=20_000, ge=1000, description="Output longer than this is cut (head and tail kept)."
    )
    idle_timeout: float = Field(
        default=1800, gt=0, description="Seconds without use after which a session's kernel is shut down."
    )
    snapshot_max_mb: int = Field(
        default=1024,
        ge=1,
        description="Largest Python variable kept when a kernel is stopped on purpose (idle, restart), in MB.",
    )
    unwatched_turn_timeout: float = Field(
        default=1800,
        gt=0,
        description="Seconds a turn keeps running while no browser tab shows its conversation; then it is stopped.",
    )
    kernel_pool_size: int = Field(
        default=1,
        ge=0,
        description="Python kernels kept started in advance so a new session answers at once.",
    )
    isolation: Literal["auto", "bubblewrap", "none"] = Field(
        default="auto",
        description="'auto': bubblewrap when it works, else reduced isolation (shown in the UI); "
        "'bubblewrap': refuse to start without it; 'none': no isolation (development only).",
    )
    max_unzip_mb: int = Field(default=2048, ge=1, description="Largest total uncompressed size of one ZIP upload.")
    max_unzip_entries: int = Field(default=20_000, ge=1, description="Most entries accepted in one ZIP upload.")
    max_unzip_ratio: float = Field(default=200, gt=1, description="Highest compression ratio accepted per ZIP entry.")
    sandbox_packages: str = Field(
        default="",
        description="Extra pip requirements for every sandbox, separated by spaces (e.g. 'yfinance statsmodels'); "
        "installed once into a shared read-only layer.",
    )
    package_index_url: str = Field(
        default="", description="Package index the admin packages come from (empty: pip's default, PyPI)."
    )

    model_provider: Literal["auto", "bedrock", "openai", "anthropic", "ollama", "scripted", "none"] = Field(
        default="auto",
        description="Which model answers: 'auto' picks Amazon Bedrock when AWS credentials are found, else none "
        "(the chat then runs code directly).",
    )
    model_id: str = Field(
        default="", description="The model to use; empty for the provider's default (Bedrock: Claude Sonnet 4.6)."
    )
    model_max_tokens: int = Field(
        default=4096,
        ge=0,
        description="Most tokens in one model answer (0: the server's default, OpenAI-compatible and Ollama only).",
    )
    model_temperature: float | None = Field(
        default=None, ge=0, le=2, description="Sampling temperature; empty for the model's default."
    )
    model_tool_choice: Literal["auto", "required", "none", ""] = Field(
        default="auto",
        description="tool_choice sent to an OpenAI-compatible endpoint (some servers offer no tools without it); "
        "empty to send none.",
    )
    openai_extra_body: str = Field(
        default="", description="A JSON object whose fields are added to every OpenAI-compatible request body."
    )
    max_tool_calls_per_turn: int = Field(
        default=25, ge=1, description="Most tool calls in one turn; then the turn ends and the agent is told."
    )
    mcp_servers: SecretStr = Field(
        default=SecretStr(""),
        description="MCP servers whose tools the agent may use: a JSON object of server names to a stdio "
        "{'command', 'args', 'env', 'cwd'} or a streamable HTTP {'url', 'headers'}, or a JSON file's path "
        "(docs/mcp.md). Header and env values are secrets; '${NAME}' in them is read from the environment.",
    )
    mcp_connect_timeout: float = Field(
        default=15,
        gt=0,
        description="Seconds an MCP server may take to connect and list its tools; then its tools are left out.",
    )
    mcp_call_timeout: float = Field(
        default=120, gt=0, description="Seconds one MCP tool call may take; then it ends with an error."
    )
    aws_region: str = Field(default="", description="AWS region for Bedrock; empty for the AWS configuration's.")
    openai_base_url: str = Field(
        default="", description="Base URL of an OpenAI-compatible endpoint, e.g. http://localhost:8000/v1."
    )
    openai_api_key: SecretStr = Field(default=SecretStr(""), description="API key of the OpenAI-compatible endpoint.")
    anthropic_api_key: SecretStr = Field(default=SecretStr(""), description="API key of the Anthropic API.")
    ollama_host: str = Field(default="http://localhost:11434", description="Address of the Ollama server.")
    scripted_model_file: Path | None = Field(
        default=None, description="JSON script for the 'scripted' provider (tests and demos)."
    )

    allow_anonymous: bool = Field(
        default=False,
        description="Serve on an address other than loopback without a login (anyone who reaches it may run code).",
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host names the server answers besides loopback names and IP addresses (comma-separated; "
        "'*.example.com' for subdomains, '*' for any).",
    )
    download_disk_mb: int = Field(
        default=20480,
        ge=1,
        description="Disk the files of large downloads (archives, big files) being prepared or sent may take "
        "together, in MB; a download that would pass it stops with a message.",
    )
    preview_domain: str = Field(
        default="localhost",
        pattern=r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$",
        description="Domain under which live previews of apps in a sandbox are served, each on a host name of its "
        "own (PORT-TOKEN.DOMAIN, answered by the preview proxy only); beyond this machine it needs a wildcard "
        "DNS name and certificate for '*.DOMAIN' that reach the app.",
    )
    admin_emails: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="With login: the e-mail addresses (comma-separated) of the people who may change the model.",
    )

    sandbox_backend: Literal["local", "agentcore"] = Field(
        default="local", description="Where code runs: 'local' (bubblewrap here) or 'agentcore' (AWS)."
    )
    workspace_backend: Literal["local", "s3"] = Field(
        default="local", description="Where workspaces and conversations are kept: 'local' (data_dir) or 's3'."
    )
    s3_bucket: str = Field(default="", description="Bucket for the S3 workspace and conversations.")
    s3_prefix: str = Field(default="code-interpreter-chat", description="Key prefix inside the bucket.")
    s3_presign_mb: int = Field(
        default=20, ge=1, description="Workspace files larger than this are downloaded through presigned URLs."
    )
    agentcore_region: str = Field(default="", description="AWS region of the AgentCore Code Interpreter.")
    agentcore_identifier: str = Field(
        default="aws.codeinterpreter.v1",
        description="Code interpreter id: the AWS-managed default (no internet) or your own (public network).",
    )
    agentcore_session_timeout: int = Field(
        default=900,
        ge=60,
        le=28800,
        description="Seconds an AgentCore session lives (the service ends it then, busy or not); it restarts on use.",
    )
    agentcore_js_runtime: Literal["deno", "nodejs"] = Field(
        default="deno",
        description="What runs JavaScript and TypeScript in AgentCore sessions: 'deno' (as in local sandboxes) or "
        "'nodejs'.",
    )
    agentcore_workspace_mount: str = Field(
        default="",
        description="ARN of an S3 Files (or EFS) access point over the workspace bucket's prefix, mounted into each "
        "AgentCore session: files are then saved to the workspace by a copy inside the session.",
    )
    agentcore_workspace_filesystem: str = Field(
        default="",
        description="ARN of the file system that owns the access point (empty: worked out from an S3 Files "
        "access point's ARN; EFS needs it).",
    )
    agentcore_workspace_mount_path: str = Field(
        default="/mnt/workspace",
        pattern=r"/mnt/[a-zA-Z0-9._-]+/?",
        description="Where the workspace mount appears inside an AgentCore session (/mnt/ and one folder name).",
    )
    agentcore_certificates: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        max_length=200,
        description="Secrets Manager secret ARNs (comma-separated, at most 200) holding root CA certificates that "
        "AgentCore sessions trust, e.g. a TLS-inspecting proxy's.",
    )
    ca_bundle: Path | None = Field(
        default=None,
        description="A PEM file of extra CA certificates local sandboxes trust (added to the system's), e.g. a "
        "TLS-inspecting proxy's; mounted read-only.",
    )

    @field_validator("allowed_hosts", "admin_emails", "agentcore_certificates", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        """A comma-separated string (as in the environment) becomes a list of its non-empty items."""
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("sandbox_allowed_domains", mode="before")
    @classmethod
    def _domains(cls, value: object) -> object:
        """Comma-separated host names (as in the environment) become a list of normalised entries."""
        from core.sandbox.local.allowlist import parse_rule

        items = [item.strip() for item in value.split(",")] if isinstance(value, str) else value
        if not isinstance(items, list):
            return value
        domains: list[str] = []
        for item in filter(None, items):
            try:
                domain = str(parse_rule(str(item)))
            except ValueError as exc:
                raise ValueError(
                    f"INTERPRETER_SANDBOX_ALLOWED_DOMAINS: {exc}; write host names separated by commas, e.g. "
                    "'pypi.org, *.pythonhosted.org, api.example.com:8443'."
                ) from None
            if domain not in domains:
                domains.append(domain)
        return domains

    @field_validator("sandbox_allowed_networks", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        """Comma-separated CIDRs (as in the environment) become a list of normalised networks; others are refused."""
        items = [item.strip() for item in value.split(",")] if isinstance(value, str) else value
        if not isinstance(items, list):
            return value
        networks: list[str] = []
        for item in filter(None, items):
            try:
                network = str(ipaddress.ip_network(str(item), strict=False))
            except ValueError:
                raise ValueError(
                    f"INTERPRETER_SANDBOX_ALLOWED_NETWORKS: {item!r} is not an IP network; write CIDRs separated "
                    "by commas, e.g. '10.1.0.0/16, 192.168.5.7/32, fd12:3456::/48'."
                ) from None
            if network not in networks:
                networks.append(network)
        return networks

    @property
    def sessions_dir(self) -> Path:
        """The folder that holds one folder per user and conversation."""
        return self.data_dir.resolve() / "sessions"
