"""Read live state while the manifests are still being parsed and checked.

What to read is known from a quick look at the files: the ``Account`` documents (small, parsed
in full) and, for every other document, its kind and ``spec.account`` (found in its first
lines, the entries after them are not parsed). A thread reads live state for that guess while
the main thread loads the manifests for real; reading waits on the network, so the two
overlap. Once the manifests are loaded, the guess is kept only if it is exactly what loading
found — the same accounts, defined the same way, managing the same resources — and so is the
error it met, if any (reading again would repeat the calls that failed); otherwise it is
thrown away and live state is read again as without it, so that errors and results are the
same either way.
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from reconciler.errors import ReconcilerError
from reconciler.model import AccountDesired, AccountLive

_SEPARATOR = re.compile(r"^---[ \t]*(?:#.*)?$", re.MULTILINE)
_KIND = re.compile(r"^kind:[ \t]*['\"]?(\w+)", re.MULTILINE)
_ACCOUNT = re.compile(r"\baccount:[ \t]*['\"]?([^'\"\s,}#]+)")
_ENABLED = re.compile(r"\benabled:[ \t]*(\w+)")
_OFF = {"false", "no", "off"}  # YAML 1.1 spellings of false
HEAD = 4096  # characters of a document searched for its kind and account
# Threads waiting on the network wake sooner while the loader holds the interpreter.
SWITCH_INTERVAL = 0.0005
RESOURCES = {"IpProtection": "protection", "IpWhitelist": "whitelist", "UninterceptList": "list"}


@dataclass
class Early:
    """What an early read found: the clients and live state by account name."""

    clients: dict[str, Any]
    seen: dict[str, AccountLive]


class Prefetch:
    def __init__(self, paths: Sequence[str], accounts: Sequence[str]) -> None:
        self._paths = list(paths)
        self._accounts = list(accounts)
        self._guess: list[AccountDesired] | None = None
        self._early: Early | None = None
        self._error: ReconcilerError | None = None
        self._stack = ExitStack()
        self._switch = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL)
        self._thread = threading.Thread(target=self._run, name="prefetch", daemon=True)
        self._thread.start()

    def take(self, wants: Sequence[AccountDesired]) -> Early | None:
        """The early read if it read exactly ``wants``, else None (it is discarded). If
        reading exactly ``wants`` failed, its error is raised: reading again would only
        repeat the calls that failed."""
        self._thread.join()
        sys.setswitchinterval(self._switch)
        if self._guess is None or not _same(self._guess, wants):
            self.close()
            return None
        if self._error is not None:
            self.close()
            raise self._error
        if self._early is None:
            self.close()
        return self._early

    def close(self) -> None:
        self._thread.join()
        sys.setswitchinterval(self._switch)
        self._stack.close()

    def _run(self) -> None:
        from reconciler import live

        try:
            guess = guess_accounts(self._paths, self._accounts)
            if not guess:
                return
            self._guess = guess
            wants, clients = self._stack.enter_context(live.connect(guess, announce=False))
            self._early = Early(clients, live.read(wants, clients))
        except ReconcilerError as exc:  # what reading after loading would have raised
            self._error = exc
            self._stack.close()
        except BaseException:  # anything else: read again, as without an early read
            self._early = None
            self._stack.close()


def _same(guess: Sequence[AccountDesired], wants: Sequence[AccountDesired]) -> bool:
    from reconciler.live import to_read

    def shape(want: AccountDesired) -> tuple[Any, ...]:
        read = to_read(want)  # what is read depends on whether protection ends on
        managed = (read.protection is None, read.whitelist is None, read.unintercepts is None)
        return (want.account, *managed)

    return [shape(w) for w in guess] == [shape(w) for w in wants]


def document_spans(text: str) -> Iterator[tuple[int, int]]:
    """Where each piece of ``text`` between separator lines starts and ends: the pieces
    ``_SEPARATOR.split(text)`` gives, found by trying the pattern only on lines that start
    with ``---`` (running it over every line of a large list was most of the quick look)."""
    start = 0
    line = 0 if text.startswith("---") else _dashes_after(text, 0)
    while line >= 0:
        found = _SEPARATOR.match(text, line)
        if found is None:
            line = _dashes_after(text, line)
            continue
        yield start, found.start()
        start = found.end()
        line = _dashes_after(text, start)
    yield start, len(text)


def _dashes_after(text: str, position: int) -> int:
    """The start of the first line after ``position`` that begins with ``---``, or -1."""
    newline = text.find("\n---", position)
    return newline + 1 if newline >= 0 else -1


def guess_accounts(paths: Sequence[str], names: Sequence[str]) -> list[AccountDesired]:
    """The accounts the manifests seem to select and what each seems to manage, from a quick
    look; raises on anything unexpected (the caller then reads after loading)."""
    from reconciler.manifests import checks, load, yamlpos
    from reconciler.manifests.schema_errors import schema_problems

    files, problems = load.discover(paths)
    if problems:
        raise ValueError("the manifests cannot all be found")
    accounts: dict[str, AccountDesired] = {}
    managed: dict[str, set[str]] = {}
    enabled: dict[str, bool] = {}  # IpProtection.spec.enabled: the whitelist is read if on
    for file in files:
        with open(file, encoding="utf-8-sig") as stream:
            text = stream.read()
        for start, end in document_spans(text):
            head = text[start : min(end, start + HEAD)]
            kind = _KIND.search(head)
            if kind is None:
                continue
            if kind.group(1) == "Account":
                documents, found = yamlpos.parse_documents(text[start:end], file)
                if found or len(documents) != 1 or schema_problems(documents[0]):
                    raise ValueError("an Account document is not valid on its own")
                account = checks.build_account(documents[0], [])
                if account.name in accounts:
                    raise ValueError("an account is defined twice")
                accounts[account.name] = AccountDesired(account)
            elif kind.group(1) in RESOURCES:
                target = _ACCOUNT.search(head)
                if target is None:
                    raise ValueError("a document's account is not in its first lines")
                managed.setdefault(target.group(1), set()).add(RESOURCES[kind.group(1)])
                if kind.group(1) == "IpProtection":
                    switch = _ENABLED.search(head)
                    enabled[target.group(1)] = switch is None or switch.group(1).lower() not in _OFF
    guess = []
    for name, want in accounts.items():
        resources = managed.get(name, set())
        if names and name not in names:
            continue
        if not names and not resources:
            continue
        want.protection = enabled.get(name, True) if "protection" in resources else None
        want.whitelist = {} if "whitelist" in resources else None
        want.unintercepts = {} if "list" in resources else None
        guess.append(want)
    return guess
