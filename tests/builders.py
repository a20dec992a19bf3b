"""Builders shared by the test modules: accounts, entries and the sandbox's credentials.

Tests import these from here, never from one another.
"""

from __future__ import annotations

from reconciler import sandbox as sb
from reconciler.model import ALL_TYPES, Account, IpEntry, Provider, Target, UninterceptEntry

DM = Account("dm", Provider.ALIYUN_DM, "https://dm.aliyuncs.com", region="cn-hangzhou")
SC = Account("sc", Provider.SENDCLOUD, "https://api.sendcloud.net/apiv2")

# The environment a CLI run needs to reach a sandbox started by the test itself.
SANDBOX_ENV = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": sb.ACCESS_KEY_ID,
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": sb.ACCESS_KEY_SECRET,
    "SENDCLOUD_API_USER": sb.API_USER,
    "SENDCLOUD_API_KEY": sb.API_KEY,
}


def ips(*addresses: str) -> dict[str, IpEntry]:
    return {a: IpEntry(a) for a in addresses}


def live_ips(*pairs: tuple[str, str]) -> list[IpEntry]:
    return [IpEntry(address, id=ident, raw=address) for ident, address in pairs]


def email(value: str, api_user: str = "all", types: frozenset[int] = ALL_TYPES) -> UninterceptEntry:
    return UninterceptEntry(api_user, Target.EMAIL, value, types)


def domain(
    value: str, api_user: str = "all", types: frozenset[int] = ALL_TYPES
) -> UninterceptEntry:
    return UninterceptEntry(api_user, Target.DOMAIN, value, types)
