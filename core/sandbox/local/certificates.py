"""Extra CA certificates for local sandboxes (``INTERPRETER_CA_BUNDLE``), e.g. a TLS-inspecting proxy's.

The sandbox trusts the system's CAs plus the configured ones: both are written into one bundle in the
session's runtime folder (which sandboxed code cannot reach), mounted read-only inside, and named by the
variables Python's ``ssl``, requests, pip, Node, Deno and curl read.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.errors import SandboxError

CA_BUNDLE_INSIDE = "/etc/ssl/sandbox-ca-bundle.pem"
"""Where sandbox processes see the CA bundle (the system's and ``INTERPRETER_CA_BUNDLE``'s certificates)."""
SYSTEM_CA_FILES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem")
CA_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT", "NODE_EXTRA_CA_CERTS", "DENO_CERT", "CURL_CA_BUNDLE")
"""The variables that point Python's ssl, requests, pip, Node, Deno and curl at the CA bundle."""


def write_ca_bundle(extra: Path, runtime: Path) -> Path:
    """The sandbox's CA bundle, written to the session's runtime folder: the system's CAs, then ``extra``'s.

    Args:
        extra: The PEM file of ``INTERPRETER_CA_BUNDLE`` (an administrator's file, read on the host).
        runtime: The session's runtime folder, out of the sandbox's reach.

    Returns:
        The bundle's path on the host (mounted read-only inside).

    Raises:
        SandboxError: When the file cannot be read or holds no certificate.

    """
    try:
        added = extra.read_bytes()
    except OSError as error:
        raise SandboxError(
            f"INTERPRETER_CA_BUNDLE names a file that cannot be read ({error.strerror or error}). "
            "Give the path of a PEM file of CA certificates."
        ) from None
    if b"-----BEGIN CERTIFICATE-----" not in added:
        raise SandboxError("INTERPRETER_CA_BUNDLE holds no PEM certificate (-----BEGIN CERTIFICATE-----).")
    system = next((Path(name) for name in SYSTEM_CA_FILES if os.path.isfile(name)), None)
    bundle = runtime / "ca-bundle.pem"
    bundle.write_bytes((system.read_bytes().rstrip(b"\n") + b"\n" if system else b"") + added)
    return bundle
