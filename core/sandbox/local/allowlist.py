"""The egress allow-list's rules: which host names (and ports) sandbox code may reach, and which addresses never.

An entry is a host name (``pypi.org``), a wildcard for its subdomains at any depth (``*.pythonhosted.org``
matches ``files.pythonhosted.org`` and ``a.b.pythonhosted.org``, not ``pythonhosted.org`` itself), or an IP
address; each optionally with ``:port``. Without a port an entry allows ports 80 and 443. A name is checked as the
sandbox asked for it; the proxy then resolves it itself and connects only to addresses that are not private,
link-local, loopback, this machine's own or its gateways' (``core/sandbox/local/network.py``'s blocks), so a name
that resolves (or is rebound) to such an address is refused even though it is listed. Ranges the admin opened with
``INTERPRETER_SANDBOX_ALLOWED_NETWORKS`` are reachable by name, as in the ``public`` mode (a longer prefix wins, so
the metadata addresses stay closed unless named exactly). An IP address the sandbox gives instead of a name is
refused unless the list holds exactly that address; a listed address is the admin's choice and is not checked.

Per-host headers (``INTERPRETER_SANDBOX_DOMAIN_HEADERS``, :func:`parse_headers`) are secrets the proxy adds to
plain-HTTP requests for that host, which it then sends on over HTTPS (port 80 becomes 443): sandbox code calls
``http://api.example.com/`` and never sees the key, and the key never crosses a network unencrypted.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

DEFAULT_PORTS = (80, 443)
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Never reachable by name, whatever DNS says (besides every address that is not global): loopback, "this network",
# multicast and reserved ranges; core/sandbox/local/network.py's blocks come on top.
ALWAYS_BLOCKED = ("127.0.0.0/8", "::1/128", "0.0.0.0/8", "::/128", "224.0.0.0/4", "240.0.0.0/4", "ff00::/8")


def normalise_host(host: str) -> str:
    """A host name as compared: lower case, without brackets or a trailing dot, international names as IDNA."""
    host = host.strip().strip("[]").rstrip(".").lower()
    try:
        return host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        return host


def ip_of(host: str) -> IPAddress | None:
    """The IP address ``host`` spells, or ``None`` for a name."""
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True)
class Rule:
    """One entry of the allow-list.

    Attributes:
        host: A normalised host name or IP address (for a wildcard, the part after ``*.``).
        wildcard: Whether it stands for the subdomains of ``host``.
        port: The one port allowed, or ``None`` for 80 and 443.

    """

    host: str
    wildcard: bool
    port: int | None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return ("*." if self.wildcard else "") + host + (f":{self.port}" if self.port else "")

    def matches(self, host: str, port: int) -> bool:
        """Whether this entry allows ``host`` (normalised) on ``port``."""
        if port not in ((self.port,) if self.port else DEFAULT_PORTS):
            return False
        return host.endswith("." + self.host) if self.wildcard else host == self.host


def parse_rule(entry: str) -> Rule:
    """Read one entry (``pypi.org``, ``*.example.com:8443``, ``203.0.113.5``, ``[2001:db8::1]:443``).

    Raises:
        ValueError: If it is not a host name, a wildcard or an address, with an optional port.

    """
    text = entry.strip()
    host, port = text, None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None if not rest else "x"
    elif text.count(":") == 1:
        host, port = text.split(":")
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"{entry!r} has no valid port")
    wildcard = host.startswith("*.")
    host = normalise_host(host[2:] if wildcard else host)
    address = ip_of(host)
    if address is not None and not wildcard:
        return Rule(str(address), False, int(port) if port else None)
    labels = host.split(".")
    valid = all(label and len(label) < 64 and label.replace("-", "").isalnum() for label in labels)
    if not valid or "*" in host or (wildcard and len(labels) < 2) or address is not None:
        raise ValueError(f"{entry!r} is not a host name, '*.' and a domain, or an IP address")
    return Rule(host, wildcard, int(port) if port else None)


_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def parse_headers(text: str) -> dict[str, dict[str, str]]:
    """Read ``INTERPRETER_SANDBOX_DOMAIN_HEADERS``: a JSON object of host entries to objects of header values.

    Raises:
        ValueError: If it is not such an object; the message names the entry or header, never a value.

    """
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError("it is not JSON (an object of hosts to objects of headers)") from None
    if not isinstance(data, dict):
        raise ValueError("it must be a JSON object of hosts to objects of headers")
    headers: dict[str, dict[str, str]] = {}
    for entry, values in data.items():
        rule = parse_rule(str(entry))
        if not isinstance(values, dict):
            raise ValueError(f"the headers of {entry!r} must be an object of names to values")
        for name, value in values.items():
            if not _TOKEN.match(str(name)) or not isinstance(value, str) or "\r" in value or "\n" in value:
                raise ValueError(f"header {name!r} of {entry!r} is not a header name with one line of text")
        headers[str(rule)] = {str(name): value for name, value in values.items()}
    return headers


@functools.cache
def _blocked_by_network(extra_blocks: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(item.split("%")[0], strict=False) for item in (*ALWAYS_BLOCKED, *extra_blocks))


class AllowList:
    """The admin's domains and the addresses the proxy refuses.

    Args:
        entries: The allow-list (``Settings.sandbox_allowed_domains``).
        open_networks: Networks the admin opened (``Settings.sandbox_allowed_networks``).
        blocked: The networks blocked besides everything that is not global (the ``public`` mode's list, with
            this machine's addresses and gateways).

    """

    def __init__(
        self,
        entries: Iterable[str],
        open_networks: Iterable[str] = (),
        blocked: Iterable[str] = (),
        headers: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.secrets = [(parse_rule(entry), dict(values)) for entry, values in (headers or {}).items()]
        self.rules = [parse_rule(entry) for entry in entries] + [rule for rule, _ in self.secrets]
        self.open_networks = [ipaddress.ip_network(network, strict=False) for network in open_networks]
        self.blocked = _blocked_by_network(tuple(blocked))

    def __str__(self) -> str:
        return ", ".join(str(rule) for rule in self.rules) or "nothing"

    def permits(self, host: str, port: int) -> bool:
        """Whether the sandbox may ask for ``host`` on ``port`` (a name, or an address listed exactly)."""
        host = normalise_host(host)
        address = ip_of(host)
        if address is not None:
            host = str(address)
            return any(not rule.wildcard and rule.host == host and rule.matches(host, port) for rule in self.rules)
        return any(rule.matches(host, port) for rule in self.rules if ip_of(rule.host) is None)

    def headers_for(self, host: str, port: int) -> dict[str, str]:
        """The secret headers the proxy adds to a plain-HTTP request for ``host`` on ``port`` (empty: none)."""
        host = normalise_host(host)
        return next((values for rule, values in self.secrets if rule.matches(host, port)), {})

    def listed_address(self, host: str) -> bool:
        """Whether ``host`` is an IP address the list names (then it is reached without the address check)."""
        address = ip_of(normalise_host(host))
        return address is not None and any(rule.host == str(address) for rule in self.rules)

    def refuses_address(self, address: str) -> bool:
        """Whether a name resolving to ``address`` must not be reached (private, local, this machine's, ...).

        The longest matching prefix among the blocks and the opened networks decides; an opened network with the
        same prefix as a block wins. An address that is not global and no opened network covers is refused.
        """
        ip = ip_of(address)
        if ip is None:
            return True
        blocked = _longest_match(ip, self.blocked)
        opened = _longest_match(ip, self.open_networks)
        if opened >= 0 and opened >= blocked:
            return False
        return blocked >= 0 or not ip.is_global


def _longest_match(ip: IPAddress, networks: Iterable[IPNetwork]) -> int:
    """The longest prefix among ``networks`` that holds ``ip`` (-1: none does)."""
    return max((net.prefixlen for net in networks if ip.version == net.version and ip in net), default=-1)
