"""Which address a request comes from when reverse proxies sit in front (pure).

Rule: only when the direct peer is a trusted proxy does ``X-Forwarded-For``
count. Its entries are read right to left (each proxy appends the address it
was connected from), skipping trusted proxies; the first untrusted entry is the
client. Entries left of it were written by the client and are never believed.
When every entry is trusted the leftmost one is the client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_ADDRESS_CHARS = 64


def parse_networks(text: str) -> tuple[Network, ...]:
    """Comma-separated addresses or CIDR networks; ValueError names the bad one."""
    out: list[Network] = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or network: {item!r}") from None
    return tuple(out)


def is_trusted(address: str, trusted: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_address(peer: str, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The client's address for rate limits: the peer unless it is a trusted proxy."""
    if not trusted or not forwarded_for or not is_trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop, trusted):
            return hop[:MAX_ADDRESS_CHARS]
    return hops[0][:MAX_ADDRESS_CHARS] if hops else peer


def is_https(
    scheme: str, peer: str, forwarded_proto: str | None, trusted: Sequence[Network]
) -> bool:
    """Whether the client's connection is HTTPS: directly, or as a trusted proxy says
    (``X-Forwarded-Proto``; its first entry is the proxy nearest the client)."""
    if scheme == "https":
        return True
    if not forwarded_proto or not trusted or not is_trusted(peer, trusted):
        return False
    return forwarded_proto.split(",")[0].strip().lower() == "https"
