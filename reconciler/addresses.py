"""Normalization and checks of IPv4 entries (address, CIDR block, range), e-mail addresses and
domain names.

Pure functions on strings: manifests and live state are both canonicalized here, so that
``10.0.0.1/32`` in a manifest and ``10.0.0.1`` in the console compare equal.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

_DIGITS = frozenset("0123456789")
_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
_MAX_IPV4 = (1 << 32) - 1
# What the checks below accept in the common case, all ASCII, decided in one match: labels of
# letters, digits and inner '-', at most 63 characters each; a local part of printable ASCII
# without spaces or '@'. Anything else takes the slow path, which also says what is wrong.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PLAIN_DOMAIN = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(?:\.{_LABEL})+", re.ASCII)
_PLAIN_LOCAL = re.compile(r"[!-?A-~]{1,64}@")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an IP address) is this machine: ``localhost``, 127.0.0.0/8
    or ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# SPEC §2: any overlap with these makes an entry non-public (the console rejects it).
NON_PUBLIC_NETWORKS: tuple[ipaddress.IPv4Network, ...] = tuple(
    ipaddress.IPv4Network(net)
    for net in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
)


def _ipv6_error(text: str) -> ValueError:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return ValueError(f"'{text}' is not a valid IPv4 address")
    return ValueError("IPv6 is not supported by DirectMail")


def _parse_ipv4(text: str) -> int:
    """Parse dotted-quad IPv4, accepting leading zeros as decimal (``010`` is 10, not octal 8)."""
    text = text.strip()
    if not text:
        raise ValueError("missing address")
    if ":" in text:
        raise _ipv6_error(text)
    octets = text.split(".")
    if len(octets) != 4:
        raise ValueError(f"'{text}' is not an IPv4 address (expected four numbers a.b.c.d)")
    value = 0
    for octet in octets:
        if not octet or not _DIGITS.issuperset(octet):
            raise ValueError(f"'{text}' is not an IPv4 address ('{octet}' is not a number 0-255)")
        # Bound the length before int(): a long run of digits is not an octet.
        significant = octet.lstrip("0")
        if len(significant) > 3 or int(significant or "0") > 255:
            raise ValueError(f"'{text}' is not an IPv4 address ({octet} is out of range 0-255)")
        value = (value << 8) | int(significant or "0")
    return value


def _format_ipv4(value: int) -> str:
    return str(ipaddress.IPv4Address(value))


def _single_block_prefix(first: int, last: int) -> int | None:
    """The prefix length if ``first..last`` is exactly one CIDR block, else None."""
    size = last - first + 1
    if size & (size - 1):
        return None
    if first & (size - 1):
        return None
    return 32 - (size.bit_length() - 1)


def _bounds(text: str) -> tuple[int, int]:
    text = text.strip()
    if not text:
        raise ValueError("empty entry")
    if "/" in text and "-" in text:
        raise ValueError(
            "use either a CIDR block (a.b.c.d/n) or a range (a.b.c.d-e.f.g.h), not both"
        )
    if "/" in text:
        address_text, _, prefix_text = text.partition("/")
        address = _parse_ipv4(address_text)
        prefix_text = prefix_text.strip()
        if not prefix_text or not _DIGITS.issuperset(prefix_text) or int(prefix_text) > 32:
            raise ValueError(f"prefix length '{prefix_text}' must be a number 0-32")
        prefix = int(prefix_text)
        host_mask = _MAX_IPV4 >> prefix
        if address & host_mask:
            network = _format_ipv4(address & ~host_mask & _MAX_IPV4)
            raise ValueError(f"host bits set; did you mean {network}/{prefix}?")
        return address, address | host_mask
    if "-" in text:
        start_text, _, end_text = text.partition("-")
        first, last = _parse_ipv4(start_text), _parse_ipv4(end_text)
        if first > last:
            a, b = _format_ipv4(first), _format_ipv4(last)
            raise ValueError(f"reversed range: {a} is after {b}; did you mean {b}-{a}?")
        return first, last
    address = _parse_ipv4(text)
    return address, address


def _canonical(first: int, last: int) -> str:
    if first == last:
        return _format_ipv4(first)
    prefix = _single_block_prefix(first, last)
    if prefix is not None:
        return f"{_format_ipv4(first)}/{prefix}"
    return f"{_format_ipv4(first)}-{_format_ipv4(last)}"


def canonical_ip_entry(text: str) -> str:
    """Return the canonical form of an IPv4 entry, or raise ``ValueError`` saying what is wrong.

    Accepted: an IPv4 address, a CIDR block with zero host bits, or an inclusive range ``a-b``.
    Canonical: ``a.b.c.d`` for one address, ``a.b.c.d/n`` for anything that is exactly one block,
    ``a.b.c.d-e.f.g.h`` otherwise.
    """
    return _canonical(*_bounds(text))


def ip_entry_bounds(canonical: str) -> tuple[int, int]:
    """First and last address of an entry, as integers (inclusive)."""
    return _bounds(canonical)


def non_public_overlap(canonical: str) -> str | None:
    """The first non-public network (SPEC §2) the entry overlaps, or None if it is all public."""
    first, last = _bounds(canonical)
    for network in NON_PUBLIC_NETWORKS:
        if first <= int(network.broadcast_address) and last >= int(network.network_address):
            return str(network)
    return None


def find_overlaps(entries: Sequence[str]) -> list[tuple[str, str]]:
    """Pairs of canonical entries that share addresses, each pair in input order.

    Sorts by start and sweeps, so each overlapping entry is paired with the earlier-starting
    entry that reaches furthest: O(n log n), at least one pair per entry that overlaps another.
    """
    indexed = sorted(
        ((*_bounds(entry), index) for index, entry in enumerate(entries)),
        key=lambda item: (item[0], -item[1], item[2]),
    )
    pairs: list[tuple[int, int]] = []
    reach_end = -1
    reach_index = -1
    for first, last, index in indexed:
        if reach_index >= 0 and first <= reach_end:
            pairs.append((min(reach_index, index), max(reach_index, index)))
        if last > reach_end:
            reach_end, reach_index = last, index
    pairs.sort()
    return [(entries[a], entries[b]) for a, b in pairs]


def canonical_domain(text: str) -> str:
    """Return a domain name as given (case kept), IDNA-encoded, without a trailing dot.

    Raises ``ValueError`` for anything that is not a plausible host name.
    """
    domain = text.strip()
    if domain.endswith("."):
        domain = domain[:-1]
    if _PLAIN_DOMAIN.fullmatch(domain):
        return domain
    if not domain:
        raise ValueError("empty domain")
    if "." not in domain:
        raise ValueError(f"'{domain}' needs at least one dot (like example.com)")
    labels = []
    for label in domain.split("."):
        if not label:
            raise ValueError(f"'{domain}' has an empty label (two dots in a row?)")
        if not label.isascii():
            try:
                label = label.encode("idna").decode("ascii")
            except UnicodeError as error:
                raise ValueError(f"'{domain}' has an invalid label '{label}': {error}") from None
        if not _LABEL_CHARS.issuperset(label):
            raise ValueError(
                f"'{domain}' has an invalid label '{label}' (letters, digits and '-' only)"
            )
        if label.startswith("-") or label.endswith("-"):
            raise ValueError(f"'{domain}' has a label that starts or ends with '-': '{label}'")
        if len(label) > 63:
            raise ValueError(f"'{domain}' has a label longer than 63 characters")
        labels.append(label)
    result = ".".join(labels)
    if len(result) > 253:
        raise ValueError(f"'{domain}' is longer than 253 characters")
    return result


MAX_EMAIL_LENGTH = 254  # RFC 5321's path limit, less the angle brackets


def canonical_email(text: str) -> str:
    """Return an e-mail address with its domain canonicalized (case kept), or raise ``ValueError``.

    Pragmatic, not RFC 5322: one '@', a non-empty local part without spaces, a valid domain.
    """
    email = text.strip()
    if len(email) > MAX_EMAIL_LENGTH:
        raise ValueError(
            f"'{email[:40]}...' has {len(email)} characters; an e-mail address has at most "
            f"{MAX_EMAIL_LENGTH}"
        )
    plain = _PLAIN_LOCAL.match(email)
    if plain is not None and _PLAIN_DOMAIN.fullmatch(email, plain.end()):
        return email
    if email.count("@") != 1:
        raise ValueError(f"'{email}' must contain exactly one '@'")
    local, _, domain = email.partition("@")
    if not local:
        raise ValueError(f"'{email}' has nothing before the '@'")
    if not local.isprintable() or local.split() != [local]:
        raise ValueError(f"'{email}' has spaces or control characters before the '@'")
    if len(local) > 64:
        raise ValueError(f"'{email}' has more than 64 characters before the '@'")
    try:
        canonical = canonical_domain(domain)
    except ValueError as error:
        raise ValueError(f"invalid domain in '{email}': {error}") from None
    return f"{local}@{canonical}"
