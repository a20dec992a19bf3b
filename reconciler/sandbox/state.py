"""The sandbox's live data: what both emulated providers hold, behind one lock, saved to a file.

The file format is ``demo_state()``'s: plain JSON a person can read or edit between runs. Every
successful write rewrites it atomically (a temporary file, then ``os.replace``), so a reader never
sees half a file and separate CLI runs see each other's changes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from pathlib import Path
from typing import Any

from reconciler import strictjson
from reconciler.errors import InputError
from reconciler.files import SANDBOX_STATE_LIMIT, make_state_directory, read_text, write_atomic
from reconciler.sandbox.account_lists import AccountLists
from reconciler.sandbox.demo import demo_state
from reconciler.sandbox.records import Record, RecordList
from reconciler.sandbox.traffic import TrafficConfig

UninterceptKey = tuple[str, str, str]  # (apiUser, "email" | "domain", value), lower-case
_VALID_TYPES = frozenset({1, 2, 4, 8})
# Filtered lists kept between writes; a client pages through one filter at a time.
_MAX_VIEWS = 8


def api_user_of(name: str) -> str:
    """An empty apiUserName means ``all``, as the SendCloud docs say."""
    return name or "all"


def unintercept_key(record: Mapping[str, Any]) -> UninterceptKey:
    target = "email" if record["email"] else "domain"
    return (api_user_of(record["apiUserName"]).lower(), target, str(record[target]).lower())


def _ipfilter_key(record: Mapping[str, Any]) -> str:
    return str(record["Id"])


class SandboxState:
    """Both providers' data. Hold ``lock`` around any sequence of reads and writes."""

    def __init__(self, data: Mapping[str, Any], path: Path | None = None) -> None:
        self.lock = threading.RLock()
        self.path = path
        self.ip_protection = "0"
        # When protection last went on (epoch seconds); None while off or when unknown.
        self.ip_protection_since: int | None = None
        # The synthetic traffic's knobs; saved in the file once set or read from it.
        self.traffic = TrafficConfig()
        self._traffic_saved = False
        self.next_id = 1
        self.ipfilters: RecordList[str] = RecordList(_ipfilter_key)
        # Tags, sending domains, sender addresses and their knobs (SPEC §10).
        self.lists = AccountLists()
        self.unintercepts: RecordList[UninterceptKey] = RecordList(unintercept_key)
        # (target, value) -> apiUsers holding it: filtering by email or domain costs O(matches).
        self._by_target: dict[tuple[str, str], set[str]] = {}
        # apiUser -> its records in list order: a page filtered by apiUserName costs O(page).
        self._by_user: dict[str, RecordList[UninterceptKey]] = {}
        # Filtered unintercept lists by filter, dropped on every write: paging through one
        # filter filters the records once, not once per page.
        self._views: dict[Hashable, list[Record]] = {}
        self._load(data)

    @classmethod
    def open(cls, path: Path | None, initial: Mapping[str, Any] | None = None) -> SandboxState:
        """Load ``path`` if it exists; otherwise start from ``initial`` (or the demo state)
        and, when a path is given, create the file."""
        if path is not None and path.exists():
            try:
                text = read_text(path, SANDBOX_STATE_LIMIT, "sandbox state file")
                return cls(strictjson.loads(text), path)
            except (OSError, ValueError, TypeError, KeyError) as exc:
                raise InputError(
                    f"cannot use the sandbox state file {path}: {_describe(exc)} "
                    "(delete it to start again from the demo state)"
                ) from exc
        try:
            state = cls(initial if initial is not None else demo_state(), path)
        except (ValueError, TypeError, KeyError) as exc:
            raise InputError(f"invalid initial sandbox state: {_describe(exc)}") from exc
        if path is not None:
            state.persist()
        return state

    # --- whole-state operations -------------------------------------------------------------

    def replace(self, data: Mapping[str, Any]) -> None:
        """Swap in new data (in the state-file format) and save it."""
        with self.lock:
            self._load(data)
            self.persist()

    def to_dict(self) -> dict[str, Any]:
        """A deep copy in the state-file format."""
        with self.lock:
            data: dict[str, Any] = {
                "directmail": {
                    "ip_protection": self.ip_protection,
                    "next_id": self.next_id,
                    "ipfilters": [dict(record) for record in self.ipfilters],
                    **self.lists.to_dict(),
                },
                "sendcloud": {
                    "unintercepts": [{**r, "type": list(r["type"])} for r in self.unintercepts]
                },
            }
            if self.ip_protection_since is not None:
                data["directmail"]["ip_protection_since"] = self.ip_protection_since
            if self._traffic_saved:
                data["telemetry"] = self.traffic.to_dict()
            return data

    def persist(self) -> None:
        if self.path is None:
            return
        with self.lock:
            extra: dict[str, Any] = {}
            if self.ip_protection_since is not None:
                extra["ip_protection_since"] = self.ip_protection_since
            extra.update(self.lists.knobs())
            text = _state_file_text(
                self.ip_protection,
                self.next_id,
                self.ipfilters,
                self.unintercepts,
                extra,
                self.lists.records(),
                self.traffic.to_dict() if self._traffic_saved else None,
            )
            make_state_directory(self.path.parent)
            write_atomic(self.path, text)

    # --- DirectMail ---------------------------------------------------------------------------

    def set_ip_protection(self, value: str) -> None:
        """Switch protection; switching it on records the moment, which the traffic model
        rejects unwhitelisted senders from."""
        with self.lock:
            if value == "1" and self.ip_protection != "1":
                self.ip_protection_since = int(time.time())
            elif value == "0":
                self.ip_protection_since = None
            self.ip_protection = value
            self.persist()

    def backdate_protection(self, seconds: int) -> None:
        with self.lock:
            if self.ip_protection != "1":
                raise InputError("IP protection is off: there is no switch-on moment to move")
            since = self.ip_protection_since
            self.ip_protection_since = (int(time.time()) if since is None else since) - seconds
            self.persist()

    def set_traffic(self, config: TrafficConfig) -> None:
        with self.lock:
            self.traffic = config
            self._traffic_saved = True
            self.persist()

    def set_list_knobs(self, page_size: int | None, dns_published: Iterable[str]) -> None:
        """Set the listings' page size (when given) and add domains whose DNS is published."""
        with self.lock:
            if page_size is not None:
                self.lists.page_size = page_size
            self.lists.dns_published.update(d.strip().lower() for d in dns_published)
            self.persist()

    def new_id(self) -> str:
        """The next id of a new DirectMail record (whitelist entries, tags, domains...)."""
        with self.lock:
            ident = str(self.next_id)
            self.next_id += 1
            return ident

    def add_ipfilter(self, address: str) -> Record:
        with self.lock:
            record = {
                "Id": self.new_id(),
                "IpAddress": address,
                "CreateTime": str(int(time.time())),
            }
            self.ipfilters.append(record)
            self.persist()
            return record

    def delete_ipfilter(self, ipfilter_id: str) -> bool:
        with self.lock:
            if self.ipfilters.remove(ipfilter_id) is None:
                return False
            self.persist()
            return True

    # --- SendCloud ----------------------------------------------------------------------------

    def unintercept_view(self, key: Hashable, build: Callable[[], list[Record]]) -> list[Record]:
        """The records ``build`` selects, computed once per ``key`` until the next write."""
        with self.lock:
            view = self._views.get(key)
            if view is None:
                if len(self._views) >= _MAX_VIEWS:
                    self._views.clear()
                view = self._views[key] = build()
            return view

    def user_page(self, api_user: str, start: int, limit: int) -> tuple[list[Record], int]:
        """The page of the records of ``api_user`` (lower-case) and how many it holds."""
        with self.lock:
            records = self._by_user.get(api_user)
            if records is None:
                return [], 0
            return records.page(start, limit), len(records)

    def keys_for_target(self, target: str, value: str) -> list[UninterceptKey]:
        """Keys of the records for this email or domain, in list order."""
        with self.lock:
            users = self._by_target.get((target, value.lower()), set())
            keys = [(user, target, value.lower()) for user in users]
            return sorted(keys, key=self.unintercepts.position)

    def put_unintercept(self, record: Record) -> Record:
        """Add a record, or give an existing one with the same key the new types.

        A replaced record keeps its place and creation time, as an edit would.
        """
        with self.lock:
            key = unintercept_key(record)
            existing = self.unintercepts.get(key)
            self._views.clear()
            if existing is not None:
                existing["type"] = list(record["type"])
                stored = existing
            else:
                self.unintercepts.append(record, key)
                self._by_target.setdefault(key[1:], set()).add(key[0])
                self._user_list(self._by_user, key[0]).append(record, key)
                stored = record
            self.persist()
            return stored

    def remove_unintercept(self, key: UninterceptKey) -> bool:
        with self.lock:
            if self.unintercepts.remove(key) is None:
                return False
            self._views.clear()
            own = self._by_user[key[0]]
            own.remove(key)
            if not len(own):
                del self._by_user[key[0]]
            users = self._by_target[key[1:]]
            users.discard(key[0])
            if not users:
                del self._by_target[key[1:]]
            self.persist()
            return True

    # --- loading ------------------------------------------------------------------------------

    def _load(self, data: Mapping[str, Any]) -> None:
        """Check the shape of state-file data and build the indexes; raise ValueError if bad."""
        directmail = data["directmail"]
        protection = directmail["ip_protection"]
        if protection not in ("0", "1"):
            raise ValueError('directmail.ip_protection must be "0" or "1"')
        ipfilters: RecordList[str] = RecordList(_ipfilter_key)
        for item in directmail["ipfilters"]:
            ipfilters.append(_checked(item, {"Id": str, "IpAddress": str, "CreateTime": str}))
        lists = AccountLists.load(directmail)
        ids = [*(str(r["Id"]) for r in ipfilters), *lists.ids()]
        numeric = [int(i) for i in ids if i.isdigit()]
        next_id = int(directmail.get("next_id", 0))
        next_id = max([next_id, 1, *(n + 1 for n in numeric)])
        since = directmail.get("ip_protection_since")
        if since is not None and (not isinstance(since, int) or isinstance(since, bool)):
            raise ValueError("directmail.ip_protection_since must be epoch seconds")
        if protection != "1":
            since = None
        saved = "telemetry" in data
        traffic = TrafficConfig.from_dict(data["telemetry"]) if saved else TrafficConfig()

        unintercepts: RecordList[UninterceptKey] = RecordList(unintercept_key)
        by_target: dict[tuple[str, str], set[str]] = {}
        by_user: dict[str, RecordList[UninterceptKey]] = {}
        shape = {"apiUserName": str, "domain": str, "email": str, "type": list, "createTime": str}
        for item in data["sendcloud"]["unintercepts"]:
            record = _checked(item, shape)
            if bool(record["email"]) == bool(record["domain"]):
                raise ValueError(f"unintercept record needs exactly one of email/domain: {item}")
            record["type"] = list(record["type"])
            if not _VALID_TYPES.issuperset(record["type"]):
                raise ValueError(f"unintercept types must be among 1, 2, 4, 8: {item}")
            key = unintercept_key(record)
            unintercepts.append(record, key)
            by_target.setdefault(key[1:], set()).add(key[0])
            self._user_list(by_user, key[0]).append(record, key)

        with self.lock:
            self.ip_protection = protection
            self.ip_protection_since = since
            self.traffic = traffic
            self._traffic_saved = saved
            self.next_id = next_id
            self.ipfilters = ipfilters
            self.lists = lists
            self.unintercepts = unintercepts
            self._by_target = by_target
            self._by_user = by_user
            self._views = {}

    @staticmethod
    def _user_list(
        by_user: dict[str, RecordList[UninterceptKey]], api_user: str
    ) -> RecordList[UninterceptKey]:
        records = by_user.get(api_user)
        if records is None:
            records = by_user[api_user] = RecordList(unintercept_key)
        return records


def _describe(exc: Exception) -> str:
    return f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)


_ENCODER = json.JSONEncoder(ensure_ascii=False)


def _state_file_text(
    ip_protection: str,
    next_id: int,
    ipfilters: Iterable[Record],
    unintercepts: Iterable[Record],
    extra: Mapping[str, Any],
    lists: Mapping[str, Iterable[Record]],
    telemetry: Mapping[str, Any] | None,
) -> str:
    """The state-file JSON, one record per line: readable and diffable, yet written by the C
    encoder (``indent`` would switch ``json`` to its pure-Python encoder, many times slower)."""

    def records(items: Iterable[Record]) -> str:
        lines = ",\n".join(f"      {_ENCODER.encode(item)}" for item in items)
        return f"[\n{lines}\n    ]" if lines else "[]"

    return (
        "{\n"
        '  "directmail": {\n'
        f'    "ip_protection": {_ENCODER.encode(ip_protection)},\n'
        f'    "next_id": {next_id},\n'
        + "".join(f"    {_ENCODER.encode(k)}: {_ENCODER.encode(v)},\n" for k, v in extra.items())
        + f'    "ipfilters": {records(ipfilters)}'
        + "".join(f",\n    {_ENCODER.encode(k)}: {records(v)}" for k, v in lists.items())
        + "\n"
        "  },\n"
        '  "sendcloud": {\n'
        f'    "unintercepts": {records(unintercepts)}\n'
        "  }"
        + (f',\n  "telemetry": {_ENCODER.encode(telemetry)}\n' if telemetry is not None else "\n")
        + "}\n"
    )


def _checked(item: Any, shape: Mapping[str, type]) -> Record:
    if not isinstance(item, dict) or len(item) != len(shape):
        raise ValueError(f"expected a record with the fields {sorted(shape)}: {item!r}")
    for name, kind in shape.items():
        if not isinstance(item.get(name), kind):
            raise ValueError(f"field {name} must be a {kind.__name__}: {item!r}")
    return dict(item)
