"""The sandbox's synthetic mail traffic, behind DirectMail's sending-data APIs (SPEC §9).

Deterministic: the messages of one clock hour are a function of the seed, the senders and the
hour alone, computed when first asked for and kept in a small cache, never materialized for the
whole horizon up front. Traffic starts at midnight (UTC+8, the provider's zone) 30 days before
today and runs until now.

The traffic model knows what IP protection does: each sender sends from an egress IPv4 address,
and while protection is on, a sender whose address no whitelist entry covers has every request
from the moment the switch went on rejected (status 4, classification ``IpProtection``). The
model judges with the current switch and whitelist: it remembers when protection last went on,
not the history of earlier switches or whitelist edits.
"""

from __future__ import annotations

import ipaddress
import random
from bisect import bisect
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from itertools import accumulate
from typing import Any, NamedTuple

UTC8 = timezone(timedelta(hours=8))
HORIZON_DAYS = 30
DEFAULT_SEED = 20151123
DEFAULT_FAILURE_PERCENT = 1.0
DEFAULT_INVALID_PERCENT = 2.0
# A sender the defaults do not know sends this many messages an hour under its local part.
NEW_SENDER_RATE = 40.0
# The most ``messages_per_minute`` may ask: each hour's messages are made in one piece.
MAX_MESSAGES_PER_MINUTE = 1000

ESPS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "others")
_ESP_WEIGHTS = (35, 10, 20, 10, 25)
_ESP_CUMULATIVE = list(accumulate(_ESP_WEIGHTS))
_OTHER_DOMAINS = ("example.net", "example.org")
# Relative volume by hour of the day in UTC+8 (mean 1.0): quiet nights, busy office hours.
_DIURNAL = (
    0.3, 0.2, 0.2, 0.2, 0.2, 0.3, 0.5, 0.8, 1.2, 1.6, 1.7, 1.6,
    1.4, 1.4, 1.6, 1.6, 1.5, 1.4, 1.3, 1.2, 1.1, 1.0, 0.7, 0.5,
)  # fmt: skip
# Recipients that bounce: one is exempted from SendCloud's bounce interception in the demo
# state (vip@example.com), so the cross-provider lint has something to find.
_BOUNCING_DOMAINS = ("gmail.com", "outlook.com", "example.net", "yahoo.com")
INVALID_ADDRESSES = (
    "vip@example.com",
    *(f"gone{n:02d}@{_BOUNCING_DOMAINS[n % 4]}" for n in range(29)),
)

# status -> (ErrorClassification, Message); status 4 has two causes.
DELIVERED, INVALID, SPAM, FAILED = 0, 2, 3, 4
OUTCOMES = {
    DELIVERED: ("SendOk", "250 Send Mail OK"),
    INVALID: ("InvalidAddress", "550 5.1.1 Recipient address rejected: User unknown"),
    SPAM: ("Spam", "554 5.7.1 Message rejected as spam"),
    FAILED: ("SendFailed", "421 4.7.0 Delivery deferred too long, giving up"),
}
REJECTED = ("IpProtection", "554 IP protection is on and sender address {ip} is not whitelisted")


@dataclass(frozen=True)
class Sender:
    account: str  # the AccountName, a sender address
    address: str  # egress IPv4 address its requests come from
    rate: float  # messages an hour, on average
    tags: tuple[tuple[str, float], ...]  # (TagName, weight)
    subjects: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)


DEFAULT_SENDERS = (
    Sender(
        "newsletter@mail.example.com",
        "198.51.100.10",
        95.0,
        (("newsletter", 0.85), ("promo", 0.149), ("survey", 0.001)),  # survey: a quiet tag
        {"newsletter": "This week at Example", "promo": "20% off until Friday"},
    ),
    Sender(
        "notify@mail.example.com",
        "198.51.100.11",
        55.0,
        (("receipt", 0.7), ("password-reset", 0.3)),
        {"receipt": "Your receipt", "password-reset": "Reset your password"},
    ),
    Sender("alerts@mail.example.com", "198.51.100.12", 15.0, (("alert", 1.0),)),
)


@dataclass(frozen=True)
class TrafficConfig:
    """The knobs: seed, failure and invalid percentages, the senders and their addresses, and
    the rate (``messages_per_minute``: every sender's messages together, spread over the
    senders by their usual shares, the same at every hour of the day; ``None``: the model's
    own volume, busy by day and quiet at night)."""

    seed: int = DEFAULT_SEED
    failure_percent: float = DEFAULT_FAILURE_PERCENT
    invalid_percent: float = DEFAULT_INVALID_PERCENT
    senders: tuple[Sender, ...] = DEFAULT_SENDERS
    messages_per_minute: float | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "seed": self.seed,
            "failure_percent": self.failure_percent,
            "invalid_percent": self.invalid_percent,
            "senders": {sender.account: sender.address for sender in self.senders},
        }
        if self.messages_per_minute is not None:
            data["messages_per_minute"] = self.messages_per_minute
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrafficConfig:
        """Read the state file's ``telemetry`` section; raise ValueError if it is malformed."""
        config = cls()
        seed = data.get("seed", config.seed)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError("telemetry.seed must be an integer")
        senders = data.get("senders", {s.account: s.address for s in DEFAULT_SENDERS})
        if not isinstance(senders, dict):
            raise ValueError("telemetry.senders must map sender addresses to IPv4 addresses")
        return config.with_knobs(
            seed=seed,
            failure_percent=data.get("failure_percent", config.failure_percent),
            invalid_percent=data.get("invalid_percent", config.invalid_percent),
            senders=senders,
            replace_senders=True,
            messages_per_minute=data.get("messages_per_minute"),
        )

    def with_knobs(
        self,
        *,
        seed: int | None = None,
        failure_percent: float | None = None,
        invalid_percent: float | None = None,
        senders: Mapping[str, str] | None = None,
        replace_senders: bool = False,
        messages_per_minute: float | None = None,
    ) -> TrafficConfig:
        """A copy with the given knobs; ``senders`` changes or adds addresses (or, with
        ``replace_senders``, is the whole list)."""
        rate = self.messages_per_minute
        if messages_per_minute is not None:
            given: Any = messages_per_minute
            if isinstance(given, bool) or not isinstance(given, int | float) or given <= 0:
                raise ValueError(
                    f"messages_per_minute must be a number above 0, not {messages_per_minute!r}"
                )
            if given > MAX_MESSAGES_PER_MINUTE:
                raise ValueError(
                    f"messages_per_minute must be at most {MAX_MESSAGES_PER_MINUTE}, not {given}"
                )
            rate = float(given)
        failure = _percent("failure_percent", failure_percent, self.failure_percent)
        invalid = _percent("invalid_percent", invalid_percent, self.invalid_percent)
        if failure + invalid > 100:
            raise ValueError("failure_percent and invalid_percent add up to more than 100")
        return TrafficConfig(
            seed=self.seed if seed is None else seed,
            failure_percent=failure,
            invalid_percent=invalid,
            senders=self.senders if senders is None else _senders(self, senders, replace_senders),
            messages_per_minute=rate,
        )

    def sender(self, account: str) -> Sender | None:
        for sender in self.senders:
            if sender.account.lower() == account.lower():
                return sender
        return None


def _percent(name: str, value: Any, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise ValueError(f"{name} must be a number from 0 to 100, not {value!r}")
    return float(value)


def _senders(config: TrafficConfig, given: Mapping[str, str], replace: bool) -> tuple[Sender, ...]:
    known = {s.account.lower(): s for s in (*DEFAULT_SENDERS, *config.senders)}
    result = {} if replace else {s.account.lower(): s for s in config.senders}
    for account, address in given.items():
        if not isinstance(account, str) or "@" not in account:
            raise ValueError(f"a sender is a mail address, not {account!r}")
        try:
            if not isinstance(address, str):
                raise TypeError(address)
            ip = str(ipaddress.IPv4Address(address))
        except (ipaddress.AddressValueError, TypeError) as exc:
            raise ValueError(f"sender {account}: {address!r} is not an IPv4 address") from exc
        base = known.get(account.lower())
        if base is None:
            base = Sender(account, ip, NEW_SENDER_RATE, ((account.split("@")[0], 1.0),))
        result[account.lower()] = Sender(base.account, ip, base.rate, base.tags, base.subjects)
    return tuple(result.values())


class Message(NamedTuple):
    utc: int  # epoch seconds
    sender: int  # index into TrafficConfig.senders
    tag: str
    esp: str
    to: str
    status: int  # before IP protection is applied
    opens: int  # 0 if never opened
    clicks: int


class Protection(NamedTuple):
    """Which senders IP protection rejects, and since when (epoch seconds)."""

    since: int | None  # None: protection is off
    rejected: frozenset[int]  # sender indexes no whitelist entry covers

    def status(self, message: Message) -> int:
        if self.since is not None and message.sender in self.rejected and message.utc >= self.since:
            return FAILED
        return message.status

    def outcome(self, message: Message, config: TrafficConfig) -> tuple[int, str, str]:
        """(Status, ErrorClassification, Message) as the service reports it."""
        status = self.status(message)
        if status == FAILED and message.status != FAILED:
            ip = config.senders[message.sender].address
            return status, REJECTED[0], REJECTED[1].format(ip=ip)
        classification, text = OUTCOMES[status]
        return status, classification, text


def protection(
    config: TrafficConfig, on: bool, since: int | None, whitelist: Iterable[str]
) -> Protection:
    """The protection in force: ``since`` None while on means since before the horizon."""
    if not on:
        return Protection(None, frozenset())
    networks = [_network(entry) for entry in whitelist]
    rejected = frozenset(
        index
        for index, sender in enumerate(config.senders)
        if not any(covers(net, ipaddress.IPv4Address(sender.address)) for net in networks)
    )
    return Protection(since if since is not None else 0, rejected)


def _network(entry: str) -> tuple[int, int] | None:
    """A whitelist entry as an inclusive integer range; None if unreadable."""
    try:
        if "-" in entry:
            low, high = entry.split("-", 1)
            return int(ipaddress.IPv4Address(low)), int(ipaddress.IPv4Address(high))
        net = ipaddress.IPv4Network(entry, strict=False)
        return int(net.network_address), int(net.broadcast_address)
    except ValueError:
        return None


def covers(network: tuple[int, int] | None, address: ipaddress.IPv4Address) -> bool:
    return network is not None and network[0] <= int(address) <= network[1]


def horizon_start(now: datetime) -> int:
    """Epoch seconds of the first moment with traffic: midnight UTC+8, 30 days before today."""
    today = now.astimezone(UTC8).date()
    return day_start(today - timedelta(days=HORIZON_DAYS))


def day_start(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC8).timestamp())


def messages(config: TrafficConfig, start: int, end: int, now: datetime) -> Iterator[Message]:
    """Every message with ``start <= utc < end`` that has been sent by ``now``, in time order."""
    for _, message in positioned(config, start, end, now):
        yield message


def positioned(
    config: TrafficConfig, start: int, end: int, now: datetime
) -> Iterator[tuple[tuple[int, int], Message]]:
    """Like ``messages``, each with its place in the stream: (hour, index within the hour)."""
    start = max(start, horizon_start(now))
    end = min(end, int(now.timestamp()) + 1)
    for hour in range(start // 3600, (end + 3599) // 3600):
        for index, message in enumerate(hour_messages(config, hour)):
            if start <= message.utc < end:
                yield (hour, index), message


@lru_cache(maxsize=2048)
def hour_messages(config: TrafficConfig, hour: int) -> tuple[Message, ...]:
    """The messages of one clock hour (``hour`` = epoch seconds // 3600), in time order.

    Every draw is one ``random()`` call mapped by hand: this runs for some 160 messages an
    hour and is the sandbox's hot loop when a 30-day window is first read."""
    rng = random.Random(f"{config.seed}:{hour}")
    draw = rng.random
    factor = _DIURNAL[(hour + 8) % 24]
    per_minute = config.messages_per_minute
    total_rate = sum(sender.rate for sender in config.senders) or 1.0
    invalid, failure = config.invalid_percent, config.failure_percent
    esp_total = _ESP_CUMULATIVE[-1]
    base = hour * 3600
    result = []
    for index, sender in enumerate(config.senders):
        names = [name for name, _ in sender.tags]
        tag_weights = list(accumulate(weight for _, weight in sender.tags))
        tag_total = tag_weights[-1]
        count = round(sender.rate * factor * (0.8 + 0.4 * draw()))
        if per_minute is not None:  # a steady rate: the sender's share of it, every hour
            count = round(per_minute * 60 * sender.rate / total_rate)
        open_rate = 0.18 + 0.04 * (index % 4)
        for _ in range(count):
            utc = base + int(draw() * 3600)
            tag = names[bisect(tag_weights, draw() * tag_total)]
            roll = draw() * 100
            opens = clicks = 0
            if roll < invalid:
                status = INVALID
                to = INVALID_ADDRESSES[int(draw() * len(INVALID_ADDRESSES))]
                esp = esp_of(to)
            else:
                esp = ESPS[bisect(_ESP_CUMULATIVE, draw() * esp_total)]
                domain = _OTHER_DOMAINS[draw() < 0.5] if esp == "others" else esp
                to = f"user{int(draw() * 100000):05d}@{domain}"
                if roll < invalid + failure:
                    status = SPAM if draw() < 0.3 else FAILED
                else:
                    status = DELIVERED
                    if draw() < open_rate:
                        opens = 1 + int(draw() * 3)
                        clicks = (draw() < 0.2) * (1 + int(draw() * 2))
            result.append(Message(utc, index, tag, esp, to, status, opens, clicks))
    result.sort()
    return tuple(result)


def esp_of(address: str) -> str:
    domain = address.rsplit("@", 1)[-1].lower()
    return domain if domain in ESPS else "others"


_EPOCH_DAY = date(1970, 1, 1)


def local_day_number(utc: int) -> int:
    """Days since 1970-01-01 in UTC+8: cheap to compute for every message."""
    return (utc + 8 * 3600) // 86400


def local_day(number: int) -> date:
    """The date of a ``local_day_number``."""
    return _EPOCH_DAY + timedelta(days=number)


def local_minute(utc: int) -> str:
    """The service's ``LastUpdateTime``: UTC+8 wall-clock time, written with a ``Z``."""
    return datetime.fromtimestamp(utc, UTC8).strftime("%Y-%m-%dT%H:%MZ")
