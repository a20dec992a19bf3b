"""The DNS records the sandbox asks of a sending domain (``DescDomain``), derived from its name.

The same name gives the same records on every run and every machine: the ownership token and
the DKIM key are drawn from SHA-256 of the name. Hosts are relative to the zone
(``TlDomainName``), as the provider writes them: for ``mail.example.com`` in ``example.com``,
ownership TXT at ``aliyundm.mail``, DKIM at ``aliyun-cn-hangzhou._domainkey.mail``, DMARC at
``_dmarc.mail``, tracking CNAME at ``dmtrace.mail``; SPF and MX belong at the domain itself.
"""

from __future__ import annotations

import base64
import hashlib
import re

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
# A domain name as CreateDomain accepts it: two labels or more, lower case, at most 50 characters.
DOMAIN_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")
# Second-level labels under which a country's registrable zones sit (co.uk, com.cn...).
_SECOND_LEVEL = frozenset({"ac", "co", "com", "edu", "gov", "net", "org"})
SPF_INCLUDE = "include:spf1.dm.aliyun.com"
MX_HOST = "mxdm.aliyun.com"
TRACKING_TARGET = "tracedm.aliyuncs.com"
DKIM_SELECTOR = "aliyun-cn-hangzhou"


def is_domain_name(name: str) -> bool:
    return len(name) <= 50 and DOMAIN_NAME.fullmatch(name) is not None


def zone_of(name: str) -> str:
    """The registrable zone of ``name``: its last two labels, three under ``co.uk`` and the
    like."""
    labels = name.lower().split(".")
    keep = 3 if len(labels) > 2 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL else 2
    return ".".join(labels[-keep:])


def records(name: str) -> dict[str, str]:
    """``DescDomain``'s record fields for the domain ``name`` (lower case)."""
    zone = zone_of(name)
    relative = name[: -len(zone) - 1] if name != zone else ""

    def at(prefix: str) -> str:
        return f"{prefix}.{relative}" if relative else prefix

    digest = hashlib.sha256(name.encode()).digest()
    key = b"".join(hashlib.sha256(digest + bytes([i])).digest() for i in range(5))[:162]
    return {
        "TlDomainName": zone,
        "HostRecord": at("aliyundm"),
        "DomainType": digest.hex()[:32],
        "SpfRecord": SPF_INCLUDE,
        "SpfRecordV2": f"v=spf1 {SPF_INCLUDE} -all",
        "DkimRR": at(f"{DKIM_SELECTOR}._domainkey"),
        "DkimPublicKey": f"v=DKIM1; k=rsa; p={base64.b64encode(key).decode()}",
        "DmarcHostRecord": at("_dmarc"),
        "DmarcRecord": "v=DMARC1;p=none;rua=mailto:dmarc_report@service.aliyun.com",
        "MxRecord": MX_HOST,
        "CnameRecord": at("dmtrace"),
        "TracefRecord": TRACKING_TARGET,
    }
