"""The managed resources as small frozen value objects, each with an explicit ``key``.

Desired state (built from manifests) and live state (read from providers) use the same entry
types, so ``plan.diff`` compares like with like.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from fnmatch import fnmatchcase
from typing import Any, Protocol

from reconciler.errors import Position


class Provider(str, Enum):
    ALIYUN_DM = "aliyun-directmail"
    SENDCLOUD = "sendcloud"


DEFAULT_REGION = "cn-hangzhou"
REGION_ENDPOINTS: Mapping[str, str] = {
    "cn-hangzhou": "https://dm.aliyuncs.com",
    "ap-southeast-1": "https://dm.ap-southeast-1.aliyuncs.com",
    "us-east-1": "https://dm.us-east-1.aliyuncs.com",
    "eu-central-1": "https://dm.eu-central-1.aliyuncs.com",
}
SENDCLOUD_ENDPOINT = "https://api.sendcloud.net/apiv2"

# Credential field -> default environment variable, per provider (SPEC §2).
DEFAULT_CREDENTIALS: Mapping[Provider, Mapping[str, str]] = {
    Provider.ALIYUN_DM: {
        "accessKeyId": "ALIBABA_CLOUD_ACCESS_KEY_ID",
        "accessKeySecret": "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        "securityToken": "ALIBABA_CLOUD_SECURITY_TOKEN",
    },
    Provider.SENDCLOUD: {
        "apiUser": "SENDCLOUD_API_USER",
        "apiKey": "SENDCLOUD_API_KEY",
    },
}
# Credential fields that may be absent at run time.
OPTIONAL_CREDENTIALS = frozenset({"securityToken"})

# SendCloud unintercept types (seed 003), in display order.
UNINTERCEPT_TYPES: Mapping[str, int] = {"bounce": 1, "block": 2, "complaint": 4, "unsubscribe": 8}
UNINTERCEPT_TYPE_NAMES: Mapping[int, str] = {v: k for k, v in UNINTERCEPT_TYPES.items()}
ALL_TYPES: frozenset[int] = frozenset(UNINTERCEPT_TYPES.values())
ALL_API_USERS = "all"


@dataclass(frozen=True)
class SecretRef:
    """Where a credential comes from: an environment variable (or a file). Never the value."""

    env: str | None = None
    file: str | None = None
    position: Position | None = field(default=None, compare=False)

    def describe(self) -> str:
        return f"environment variable {self.env}" if self.env else f"file {self.file}"


@dataclass(frozen=True)
class RoleRef:
    """A RAM role to assume: with an OIDC provider and token file (``AssumeRoleWithOIDC``), or
    else with the account's AccessKey (``AssumeRole``). Names and paths only, never a value."""

    arn: str
    oidc_provider_arn: str | None = None
    oidc_token_file: str | None = None
    session_name: str | None = None


@dataclass(frozen=True)
class CredentialSource:
    """Keys obtained at run time rather than read from ``{env}``/``{file}`` references: the
    default credential chain, a named ``aliyun`` CLI profile, or a role (aliyun only)."""

    chain: bool = False
    profile: str | None = None
    role: RoleRef | None = None
    position: Position | None = field(default=None, compare=False)

    def describe(self) -> str:
        if self.chain:
            return "the default credential chain"
        if self.profile is not None:
            return f"profile {self.profile!r}"
        assert self.role is not None
        return f"role {self.role.arn}"


@dataclass(frozen=True)
class Limits:
    """Client-side bounds on an account's calls (SPEC §6)."""

    requests_per_second: float = 10.0
    concurrency: int = 4


@dataclass(frozen=True)
class RetryPolicy:
    """How an account's failed calls are retried (SPEC §6): at most ``attempts`` tries of one
    call (the first included) within ``max_seconds``, waits included; the wait before retry
    ``n`` is random between 0 and ``base_delay * 2 ** (n - 1)`` (full jitter), or at least what
    the provider asked for."""

    attempts: int = 5
    max_seconds: float = 60.0
    base_delay: float = 0.5


@dataclass(frozen=True)
class Account:
    name: str
    provider: Provider
    endpoint: str
    region: str | None = None  # aliyun only
    credentials: Mapping[str, SecretRef] = field(default_factory=dict)
    credential_source: CredentialSource | None = None
    limits: Limits = field(default_factory=Limits)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    position: Position | None = field(default=None, compare=False)

    def describe(self) -> str:
        """``aliyun-directmail, cn-hangzhou`` or ``sendcloud``: the plan's account heading."""
        return f"{self.provider.value}, {self.region}" if self.region else self.provider.value


@dataclass(frozen=True, slots=True)
class IpEntry:
    """A whitelist entry. ``address`` is canonical (see ``addresses.canonical_ip_entry``)."""

    address: str
    id: str | None = None  # live entries only: the provider's record id
    raw: str | None = None  # live entries only: the text as the provider returned it
    position: Position | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        return self.address

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"address": self.address}
        if self.id is not None:
            data["id"] = self.id
        return data


class Target(str, Enum):
    EMAIL = "email"
    DOMAIN = "domain"


@dataclass(frozen=True, slots=True)
class UninterceptEntry:
    """A SendCloud unintercept entry. Identity is ``(apiUser, email|domain)``, case-insensitive."""

    api_user: str
    target: Target
    value: str
    types: frozenset[int] = ALL_TYPES
    position: Position | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        # ``_value_``, not ``value``: the enum's property is a Python call, and a plan of a
        # million entries asks for two million keys.
        return f"{self.api_user}:{self.target._value_}:{self.value}".lower()

    @property
    def type_names(self) -> list[str]:
        return [name for name, bit in UNINTERCEPT_TYPES.items() if bit in self.types]

    def as_dict(self) -> dict[str, Any]:
        return {"apiUser": self.api_user, self.target.value: self.value, "types": self.type_names}


@dataclass(frozen=True)
class DeletionThreshold:
    """Safety rule 1 (SPEC §5): a plan that deletes at least ``entries`` entries of a list and
    more than ``percent`` % of its live entries is a mass deletion."""

    entries: int = 3
    percent: float = 30.0


@dataclass(frozen=True)
class ListPolicy:
    """How a managed list treats live entries the manifests do not mention (SPEC §2, §5)."""

    prune: bool = True
    ignore: tuple[str, ...] = ()
    deletion_threshold: DeletionThreshold = field(default_factory=DeletionThreshold)

    def ignores(self, *texts: str | None) -> bool:
        """Whether an ``ignore`` pattern matches one of ``texts`` (case-insensitive)."""
        return any(fnmatchcase(t.lower(), p.lower()) for p in self.ignore for t in texts if t)

    def sees_unnamed(self, *texts: str | None) -> bool:
        """Whether a live entry the manifests do not name is in view of a plan: only when the
        list is pruned and no ``ignore`` pattern matches the entry (SPEC §2)."""
        return self.prune and not self.ignores(*texts)


# Saved plans leave these fields out while they are empty (``dataclass_json.to_json``).
OMIT_EMPTY: Mapping[str, bool] = {"omit_empty": True}


class Resource(str, Enum):
    IP_PROTECTION = "ip_protection"
    IP_WHITELIST = "ip_whitelist"
    UNINTERCEPT = "unintercept"
    TAG = "tag"
    MAIL_DOMAIN = "mail_domain"
    SENDER_ADDRESS = "sender_address"


@dataclass
class AccountDesired:
    """What the manifests want for one account. ``None`` means "not managed": left alone."""

    account: Account
    protection: bool | None = None
    protection_position: Position | None = None
    senders: tuple[IpEntry, ...] = ()  # IpProtection.spec.senders: must stay whitelisted
    whitelist: dict[str, IpEntry] | None = None
    whitelist_policy: ListPolicy = field(default_factory=ListPolicy)
    unintercepts: dict[str, UninterceptEntry] | None = None
    unintercept_policy: ListPolicy = field(default_factory=ListPolicy)
    # Kinds declared only in ``reconciler/kinds/``: managed entries by key, and their policy.
    lists: dict[Resource, dict[str, Any]] = field(default_factory=dict, metadata=OMIT_EMPTY)
    policies: dict[Resource, ListPolicy] = field(default_factory=dict, metadata=OMIT_EMPTY)


@dataclass(frozen=True)
class GuardSpec:
    """``DeliveryCheck.spec.guard`` (SPEC §11): watch the check after every apply that writes
    to its account; what the watch does is ``reconciler.guard``'s."""

    watch_seconds: float
    watch_text: str
    min_requests: int = 20
    rollback: str = "auto"  # auto | never


@dataclass(frozen=True)
class DeliveryCheck:
    """A ``DeliveryCheck`` document (SPEC §9): thresholds on an account's recent delivery.
    ``check`` evaluates it; with a ``guard`` (SPEC §11), ``apply`` watches it after writing."""

    name: str
    account: str
    window_seconds: float
    window_text: str
    min_requests: int
    max_failed_percent: float
    max_invalid_percent: float
    min_open_percent: float | None = None
    tag: str = ""
    sender: str = ""
    position: Position | None = field(default=None, compare=False)
    guard: GuardSpec | None = None


@dataclass
class DesiredState:
    accounts: dict[str, AccountDesired]  # in the order the manifests define them
    files: list[str] = field(default_factory=list)  # manifest files read, in order
    checks: list[DeliveryCheck] = field(default_factory=list)  # in manifest order


@dataclass
class AccountLive:
    """What a provider reported for one account; ``None`` where it was not read."""

    protection: bool | None = None
    whitelist: list[IpEntry] | None = None
    whitelist_total: int | None = None
    unintercepts: list[UninterceptEntry] | None = None
    unintercept_total: int | None = None
    # Kinds declared only in ``reconciler/kinds/``: the entries read, and the provider's total.
    lists: dict[Resource, list[Any]] = field(default_factory=dict, metadata=OMIT_EMPTY)
    totals: dict[Resource, int | None] = field(default_factory=dict, metadata=OMIT_EMPTY)


def id_order(ident: str | None) -> tuple[int, str]:
    """The order of provider record ids: numeric for the digit strings providers use, any
    other id after them in text order."""
    text = ident or ""
    return (int(text), text) if text.isdigit() else (1 << 62, text)


# -- changes --------------------------------------------------------------------------------


class Action(str, Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


PROTECTION_KEY = "ip_protection"


class Entry(Protocol):
    """An entry of a managed list, of whatever kind: its identity and its JSON form."""

    @property
    def key(self) -> str: ...

    def as_dict(self) -> dict[str, Any]: ...


Value = Entry | bool | None


@dataclass(frozen=True)
class Change:
    """One create, update or delete. ``before`` is live, ``after`` is desired."""

    account: str
    resource: Resource
    action: Action
    key: str
    before: Value = None
    after: Value = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "resource": self.resource.value,
            "action": self.action.value,
            "key": self.key,
            "before": _jsonable(self.before),
            "after": _jsonable(self.after),
        }


def _jsonable(value: Value) -> Any:
    if isinstance(value, bool):
        return {"enabled": value}
    if value is None:
        return None
    return value.as_dict()


class Phase(IntEnum):
    """When a change runs within its account, make before break: a plan lists an account's
    changes in this order and apply runs them phase by phase. Each kind places its changes
    (``kinds.Kind.slot``); a kind added later may take a slot before or after these."""

    WHITELIST_ADDITIONS = 30
    PROTECTION_ON = 40
    UNINTERCEPT_CHANGES = 50
    PROTECTION_OFF = 60
    WHITELIST_DELETIONS = 70
