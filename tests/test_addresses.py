from __future__ import annotations

import pytest

from reconciler.addresses import (
    canonical_domain,
    canonical_email,
    canonical_ip_entry,
    find_overlaps,
    ip_entry_bounds,
    non_public_overlap,
)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("  203.0.113.7  ", "203.0.113.7"),
        ("203.0.113.7/32", "203.0.113.7"),
        ("203.0.113.7-203.0.113.7", "203.0.113.7"),
        ("203.0.113.7 - 203.0.113.7", "203.0.113.7"),
        ("010.000.000.001", "10.0.0.1"),
        ("203.000.113.007", "203.0.113.7"),
        ("00000000203.0.113.7", "203.0.113.7"),
        ("198.51.100.0/24", "198.51.100.0/24"),
        ("198.51.100.0 / 24", "198.51.100.0/24"),
        ("198.051.100.000/24", "198.51.100.0/24"),
        ("192.0.2.0-192.0.2.255", "192.0.2.0/24"),
        ("192.0.2.0 -192.0.2.255", "192.0.2.0/24"),
        ("192.0.2.128-192.0.2.255", "192.0.2.128/25"),
        ("192.0.2.10-192.0.2.20", "192.0.2.10-192.0.2.20"),
        ("192.0.2.1-192.0.2.2", "192.0.2.1-192.0.2.2"),  # two addresses, not one block
        ("192.0.2.2-192.0.2.3", "192.0.2.2/31"),
        ("0.0.0.0/0", "0.0.0.0/0"),
        ("0.0.0.0-255.255.255.255", "0.0.0.0/0"),
        ("255.255.255.255", "255.255.255.255"),
    ],
)
def test_canonical_ip_entry(text: str, canonical: str) -> None:
    assert canonical_ip_entry(text) == canonical


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty entry"),
        ("   ", "empty entry"),
        ("198.51.100.1/24", "host bits set; did you mean 198.51.100.0/24?"),
        ("10.1.2.3/8", "did you mean 10.0.0.0/8?"),
        ("192.0.2.20-192.0.2.10", "reversed range"),
        ("192.0.2.20-192.0.2.10", "did you mean 192.0.2.10-192.0.2.20?"),
        ("2001:db8::1", "IPv6 is not supported by DirectMail"),
        ("2001:db8::/32", "IPv6 is not supported by DirectMail"),
        ("::ffff:192.0.2.1", "IPv6 is not supported by DirectMail"),
        ("1:2:3", "not a valid IPv4 address"),
        ("256.0.0.1", "256 is out of range 0-255"),
        ("1000.0.0.1", "1000 is out of range 0-255"),
        ("1.2.3", "expected four numbers"),
        ("1.2.3.4.5", "expected four numbers"),
        ("1.2..4", "'' is not a number"),
        ("1.2.3.x", "'x' is not a number"),
        ("1.2.3.-4", "not a number"),
        ("1.2. 3.4", "' 3' is not a number"),
        ("1.2.3.٤", "not a number"),  # a non-ASCII digit
        ("192.0.2.0/33", "prefix length '33' must be a number 0-32"),
        ("192.0.2.0/", "prefix length '' must be"),
        ("192.0.2.0/x", "prefix length 'x'"),
        ("192.0.2.0/24-192.0.3.0", "not both"),
        ("192.0.2.0-", "missing address"),
        ("example.com", "not an IPv4 address"),
    ],
)
def test_canonical_ip_entry_rejects(text: str, fragment: str) -> None:
    with pytest.raises(ValueError) as caught:
        canonical_ip_entry(text)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("canonical", "bounds"),
    [
        ("0.0.0.1", (1, 1)),
        ("192.0.2.0/24", (0xC0000200, 0xC00002FF)),
        ("192.0.2.10-192.0.2.20", (0xC000020A, 0xC0000214)),
    ],
)
def test_ip_entry_bounds(canonical: str, bounds: tuple[int, int]) -> None:
    assert ip_entry_bounds(canonical) == bounds


@pytest.mark.parametrize(
    ("entry", "network"),
    [
        # Every non-public network: its first and last address, and the addresses just outside.
        ("0.0.0.0", "0.0.0.0/8"),
        ("0.255.255.255", "0.0.0.0/8"),
        ("1.0.0.0", None),
        ("9.255.255.255", None),
        ("10.0.0.0", "10.0.0.0/8"),
        ("10.255.255.255", "10.0.0.0/8"),
        ("11.0.0.0", None),
        ("100.63.255.255", None),
        ("100.64.0.0", "100.64.0.0/10"),
        ("100.127.255.255", "100.64.0.0/10"),
        ("100.128.0.0", None),
        ("126.255.255.255", None),
        ("127.0.0.0", "127.0.0.0/8"),
        ("127.255.255.255", "127.0.0.0/8"),
        ("128.0.0.0", None),
        ("169.253.255.255", None),
        ("169.254.0.0", "169.254.0.0/16"),
        ("169.254.255.255", "169.254.0.0/16"),
        ("169.255.0.0", None),
        ("172.15.255.255", None),
        ("172.16.0.0", "172.16.0.0/12"),
        ("172.31.255.255", "172.16.0.0/12"),
        ("172.32.0.0", None),
        ("192.167.255.255", None),
        ("192.168.0.0", "192.168.0.0/16"),
        ("192.168.255.255", "192.168.0.0/16"),
        ("192.169.0.0", None),
        ("223.255.255.255", None),
        ("224.0.0.0", "224.0.0.0/4"),
        ("239.255.255.255", "224.0.0.0/4"),
        ("240.0.0.0", "240.0.0.0/4"),
        ("255.255.255.255", "240.0.0.0/4"),
        # Documentation ranges are allowed.
        ("192.0.2.0/24", None),
        ("198.51.100.0/24", None),
        ("203.0.113.0/24", None),
        # Overlap, not containment, is what counts.
        ("8.0.0.0/6", "10.0.0.0/8"),
        ("9.255.255.255-10.0.0.0", "10.0.0.0/8"),
        ("0.0.0.0/0", "0.0.0.0/8"),
        ("223.255.255.255-224.0.0.0", "224.0.0.0/4"),
    ],
)
def test_non_public_overlap(entry: str, network: str | None) -> None:
    assert non_public_overlap(canonical_ip_entry(entry)) == network


@pytest.mark.parametrize(
    ("entries", "overlaps"),
    [
        ([], []),
        (["203.0.113.7"], []),
        (["203.0.113.7", "203.0.113.8"], []),
        (["203.0.113.0/24", "203.0.113.7"], [("203.0.113.0/24", "203.0.113.7")]),
        (["203.0.113.7", "203.0.113.0/24"], [("203.0.113.7", "203.0.113.0/24")]),
        (
            ["192.0.2.10-192.0.2.20", "192.0.2.20-192.0.2.30"],
            [("192.0.2.10-192.0.2.20", "192.0.2.20-192.0.2.30")],
        ),
        (["192.0.2.10-192.0.2.20", "192.0.2.21-192.0.2.30"], []),  # adjacent, not overlapping
        (
            # A wide entry overlaps entries that do not overlap each other.
            ["198.51.100.1", "198.51.100.0/24", "198.51.100.200"],
            [("198.51.100.1", "198.51.100.0/24"), ("198.51.100.0/24", "198.51.100.200")],
        ),
        (["198.51.100.0/25", "198.51.100.128/25"], []),
    ],
)
def test_find_overlaps(entries: list[str], overlaps: list[tuple[str, str]]) -> None:
    assert find_overlaps(entries) == overlaps


def test_find_overlaps_is_fast_on_many_entries() -> None:
    entries = [canonical_ip_entry(f"198.{i // 256 % 256}.{i % 256}.0/32") for i in range(50_000)]
    entries.append("198.0.0.0/8")
    assert len(find_overlaps(entries)) == 50_000


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("vip@example.com", "vip@example.com"),
        ("  VIP@Example.COM  ", "VIP@Example.COM"),  # case kept; compared by model keys
        ("a.b+tag@sub.example.org", "a.b+tag@sub.example.org"),
        ("user@example.com.", "user@example.com"),
        ("user@bücher.example", "user@xn--bcher-kva.example"),
    ],
)
def test_canonical_email(text: str, canonical: str) -> None:
    assert canonical_email(text) == canonical


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "exactly one '@'"),
        ("example.com", "exactly one '@'"),
        ("a@b@example.com", "exactly one '@'"),
        ("@example.com", "nothing before the '@'"),
        ("a b@example.com", "spaces"),
        ("a\tb@example.com", "spaces"),
        ("user@localhost", "at least one dot"),
        ("user@example..com", "empty label"),
        ("user@-example.com", "starts or ends with '-'"),
        ("user@exa_mple.com", "invalid label"),
        ("x" * 65 + "@example.com", "more than 64"),
    ],
)
def test_canonical_email_rejects(text: str, fragment: str) -> None:
    with pytest.raises(ValueError) as caught:
        canonical_email(text)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("partner.example", "partner.example"),
        (" Partner.Example. ", "Partner.Example"),
        ("a-b.c1.example", "a-b.c1.example"),
        ("Bücher.Example", "xn--bcher-kva.Example"),
        ("x" * 63 + ".example", "x" * 63 + ".example"),
    ],
)
def test_canonical_domain(text: str, canonical: str) -> None:
    assert canonical_domain(text) == canonical


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty domain"),
        (".", "empty domain"),
        ("localhost", "at least one dot"),
        ("a..example", "empty label"),
        (".example.com", "empty label"),
        ("exa mple.com", "invalid label"),
        ("example-.com", "starts or ends with '-'"),
        ("x" * 64 + ".example", "longer than 63"),
        (".".join(["abcdefghi"] * 26), "longer than 253"),
    ],
)
def test_canonical_domain_rejects(text: str, fragment: str) -> None:
    with pytest.raises(ValueError) as caught:
        canonical_domain(text)
    assert fragment in str(caught.value)
