"""INTERPRETER_CA_BUNDLE in the real bubblewrap sandbox: extra CA certificates are trusted (an HTTPS server whose
certificate they signed is verified), the system's stay trusted, the bundle is read-only, and the variables that
Python's ssl, requests, pip, Node, Deno and curl read point at it."""

from __future__ import annotations

import datetime
import ipaddress
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.errors import SandboxError
from core.sandbox.local.certificates import CA_BUNDLE_INSIDE, CA_VARIABLES
from core.sandbox.local.isolation import bubblewrap_works
from core.sandbox.local.sandbox import LocalSandbox
from tests.prerequisites import requires

pytestmark = requires(bubblewrap_works(), "bubblewrap cannot run on this machine")

MakeSandbox = Callable[..., LocalSandbox]
CA_NAME = "Interpreter Test Proxy CA"


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _certificate(subject: str, issuer: x509.Name | None, key: ec.EllipticCurvePrivateKey,
                 signer: ec.EllipticCurvePrivateKey, *, ca: bool,
                 names: list[x509.GeneralName] | None = None) -> x509.Certificate:  # fmt: skip
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        names = names or [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(signer, hashes.SHA256())


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A CA (as a proxy's would be) and a server certificate and key it signed for localhost."""
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _certificate(CA_NAME, None, ca_key, ca_key, ca=True)
    server = _certificate("localhost", ca.subject, server_key, ca_key, ca=False)
    key = server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return {"ca": _pem(ca), "server": _pem(server), "key": key}


# An HTTPS server inside the sandbox (its own loopback) with the certificate the CA signed; a client with Python's
# default context (what requests and pip use through the variables) fetches from it.
HTTPS_ROUND_TRIP = """\
import http.server, json, ssl, threading, urllib.request
server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain("server.pem", "server.key")
server.socket = context.wrap_socket(server.socket, server_side=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
try:
    body = urllib.request.urlopen(f"https://localhost:{server.server_address[1]}/hello.txt", timeout=10).read()
    outcome = body.decode()
except Exception as error:
    outcome = f"refused: {error}"
finally:
    server.shutdown()
names = [dict(part[0] for part in c["subject"]).get("commonName") for c in ssl.create_default_context().get_ca_certs()]
print(json.dumps({"outcome": outcome, "names": names}))
"""


def _round_trip(sandbox: LocalSandbox, authority: dict[str, bytes]) -> dict[str, object]:
    sandbox.write_file("server.pem", authority["server"])
    sandbox.write_file("server.key", authority["key"])
    sandbox.write_file("hello.txt", b"hello over TLS")
    result = sandbox.execute(HTTPS_ROUND_TRIP)
    assert result.error is None, result.error
    found: dict[str, object] = json.loads(result.stdout)
    return found


def test_the_configured_ca_is_trusted_next_to_the_systems(
    make_sandbox: MakeSandbox, authority: dict[str, bytes], tmp_path: Path
) -> None:
    bundle = tmp_path / "proxy-ca.pem"
    bundle.write_bytes(authority["ca"])
    sandbox = make_sandbox("with-ca", ca_bundle=bundle, isolation="bubblewrap", sandbox_network="none")
    found = _round_trip(sandbox, authority)
    assert found["outcome"] == "hello over TLS"
    names = found["names"]
    assert isinstance(names, list) and CA_NAME in names and len(names) > 1  # the system's CAs are kept

    printed = sandbox.run_command("for v in " + " ".join(CA_VARIABLES) + '; do printf "%s=%s\\n" "$v" "${!v}"; done')
    assert printed.stdout.splitlines() == [f"{name}={CA_BUNDLE_INSIDE}" for name in CA_VARIABLES]
    assert authority["ca"].decode() in sandbox.run_command(f"cat {CA_BUNDLE_INSIDE}").stdout
    written = sandbox.run_command(f"echo forged >> {CA_BUNDLE_INSIDE}")
    assert written.exit_code != 0 and "Read-only file system" in written.stderr
    assert sandbox.execute(f"print(open({CA_BUNDLE_INSIDE!r}).read().count('BEGIN CERTIFICATE') > 1)").stdout == (
        "True\n"
    )


def test_without_the_setting_the_ca_is_not_trusted(make_sandbox: MakeSandbox, authority: dict[str, bytes]) -> None:
    sandbox = make_sandbox("without-ca", isolation="bubblewrap", sandbox_network="none")
    found = _round_trip(sandbox, authority)
    assert str(found["outcome"]).startswith("refused:") and "CERTIFICATE_VERIFY_FAILED" in str(found["outcome"])
    assert CA_NAME not in list(found["names"])  # type: ignore[call-overload]
    assert sandbox.run_command("printenv SSL_CERT_FILE").exit_code == 1


@pytest.mark.parametrize(("content", "problem"), [(None, "cannot be read"), (b"not a certificate", "no PEM")])
def test_an_unusable_bundle_is_refused_in_plain_words(
    make_sandbox: MakeSandbox, tmp_path: Path, content: bytes | None, problem: str
) -> None:
    bundle = tmp_path / "bundle.pem"
    if content is not None:
        bundle.write_bytes(content)
    with pytest.raises(SandboxError, match=f"INTERPRETER_CA_BUNDLE .*{problem}"):
        make_sandbox("broken", ca_bundle=bundle, isolation="bubblewrap")
