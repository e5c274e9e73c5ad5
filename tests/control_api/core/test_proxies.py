"""Client address behind reverse proxies: X-Forwarded-For counts only from a trusted peer."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from control_api.core.proxies import client_address, is_https, is_trusted, parse_networks

PROXY = "10.0.0.5"
TRUSTED = parse_networks(f"{PROXY}, 10.1.0.0/16")


def test_untrusted_peer_is_the_client_whatever_it_forwards() -> None:
    assert client_address("203.0.113.7", "198.51.100.1", TRUSTED) == "203.0.113.7"


def test_no_trusted_proxies_ignores_the_header() -> None:
    assert client_address(PROXY, "198.51.100.1", ()) == PROXY


def test_trusted_peer_names_the_client() -> None:
    assert client_address(PROXY, "198.51.100.1", TRUSTED) == "198.51.100.1"


def test_chain_of_trusted_proxies_is_skipped_right_to_left() -> None:
    assert client_address(PROXY, "198.51.100.1, 10.1.2.3", TRUSTED) == "198.51.100.1"


def test_trusted_peer_without_header_is_the_peer() -> None:
    assert client_address(PROXY, None, TRUSTED) == PROXY
    assert client_address(PROXY, " , ", TRUSTED) == PROXY


def test_every_hop_trusted_gives_the_leftmost() -> None:
    assert client_address(PROXY, "10.1.0.9, 10.1.0.8", TRUSTED) == "10.1.0.9"


def test_parse_networks_names_the_bad_entry() -> None:
    assert parse_networks("") == ()
    with pytest.raises(ValueError, match=r"'proxy\.local'"):
        parse_networks("10.0.0.1, proxy.local")


addresses = st.ip_addresses(v=4).map(str)


@given(spoofed=st.lists(addresses | st.text(max_size=20), max_size=5), real=addresses)
def test_a_client_cannot_choose_its_address_by_prepending(spoofed: list[str], real: str) -> None:
    """What the client writes is left of what the trusted proxy appends: never believed."""
    assume(not is_trusted(real, TRUSTED))
    header = ", ".join([*(s.replace(",", "") for s in spoofed), real])
    assert client_address(PROXY, header, TRUSTED) == real


@pytest.mark.parametrize(
    ("scheme", "peer", "proto", "https"),
    [
        ("https", "203.0.113.7", None, True),
        ("http", "203.0.113.7", None, False),
        ("http", "203.0.113.7", "https", False),  # an untrusted peer says so: not believed
        ("http", PROXY, "https", True),
        ("http", PROXY, "HTTPS, http", True),  # the first entry: the proxy nearest the client
        ("http", PROXY, "http", False),
        ("http", PROXY, None, False),
    ],
)
def test_https_is_the_connection_or_what_a_trusted_proxy_says(
    scheme: str, peer: str, proto: str | None, https: bool
) -> None:
    assert is_https(scheme, peer, proto, TRUSTED) is https
