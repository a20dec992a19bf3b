"""Read live state while the manifests are still being parsed and checked.

What to read is known from a quick look at the files: the ``Account`` documents (small, parsed
in full and put through every check ``validate`` makes of them on their own) and, for every
other document, its kind and ``spec.account`` (found in its first lines, the entries after them
are not parsed). A thread reads live state for that guess while the main thread loads the
manifests for real; reading waits on the network, so the two overlap. Once the manifests are
loaded, the guess is kept only if it is exactly what loading found — the same accounts, defined
the same way, managing the same resources — and so is the error it met, if any (reading again
would repeat the calls that failed); otherwise it is thrown away and live state is read again
as without it, so that errors and results are the same either way.

Nothing is resolved or sent for an account before its ``Account`` document has passed those
checks: if any ``Account`` document fails one (or the quick look meets a document it cannot
place), there is no early read at all, and loading reports the error before anything is read.
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
from reconciler.kinds import Kind, kinds
from reconciler.model import AccountDesired, AccountLive

_SEPARATOR = re.compile(r"^---[ \t]*(?:#.*)?$", re.MULTILINE)
_KIND = re.compile(r"^kind:(.*)", re.MULTILINE)
# The whole value of a ``kind:`` line as the quick look accepts it: one word, maybe quoted.
_KIND_VALUE = re.compile(r"[ \t]*(['\"]?)(\w+)\1(?:[ \t]+#.*)?[ \t\r]*")
_CONTENT = re.compile(r"^[ \t]*[^\s#]", re.MULTILINE)  # a line that is not blank or a comment
_OTHER_BREAKS = ("\x85", "\u2028", "\u2029")
_ACCOUNT = re.compile(r"\baccount:[ \t]*['\"]?([^'\"\s,}#]+)")
HEAD = 4096  # characters of a document searched for its kind and account
# Threads waiting on the network wake sooner while the loader holds the interpreter.
SWITCH_INTERVAL = 0.0005
# The documents of managed kinds, and what each declares of itself (``Kind.quick_look``).
RESOURCES = {kind.document: kind for kind in kinds()}
KINDS = frozenset(("Account", "DeliveryCheck", *RESOURCES))


@dataclass
class Early:
    """What an early read found: the clients and live state by account name."""

    clients: dict[str, Any]
    seen: dict[str, AccountLive]


class Prefetch:
    """An early read of the accounts the manifests at ``paths`` seem to select (``accounts``:
    those --account names). ``writes``: the file the run will write (``plan --out``), refused
    first (``files.check_writable``) so that a bad one costs no provider call. Nothing is read
    if the manifests cannot all be found: loading reports that."""

    def __init__(
        self, paths: Sequence[str], accounts: Sequence[str], writes: str | None = None
    ) -> None:
        self._accounts = list(accounts)
        self._guess: list[AccountDesired] | None = None
        self._early: Early | None = None
        self._error: ReconcilerError | None = None
        self._stack = ExitStack()
        self._switch = sys.getswitchinterval()
        self._files = _found(paths, writes)
        self._thread = threading.Thread(target=self._run, name="prefetch", daemon=True)
        if self._files is not None:
            sys.setswitchinterval(SWITCH_INTERVAL)
            self._thread.start()

    def take(self, wants: Sequence[AccountDesired]) -> Early | None:
        """The early read if it read exactly ``wants``, else None (it is discarded). If
        reading exactly ``wants`` failed, its error is raised: reading again would only
        repeat the calls that failed."""
        self._join()
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
        self._join()
        self._stack.close()

    def _join(self) -> None:
        if self._thread.ident is not None:  # started
            self._thread.join()
        sys.setswitchinterval(self._switch)

    def _run(self) -> None:
        from reconciler import live

        try:
            guess = guess_accounts(self._files or [], self._accounts)
        except BaseException:  # no early read: loading reports what is wrong, if anything
            return
        if not guess:
            return
        try:
            self._guess = guess
            wants, clients = self._stack.enter_context(live.connect(guess, announce=False))
            self._early = Early(clients, live.read(wants, clients))
        except ReconcilerError as exc:  # what reading after loading would have raised
            self._error = exc
            self._stack.close()
        except BaseException:  # anything else: read again, as without an early read
            self._early = None
            self._stack.close()


def _found(paths: Sequence[str], writes: str | None) -> list[str] | None:
    """The manifest files at ``paths``, or None if they cannot all be found (loading reports
    that); raises ``InputError`` if ``writes`` must not be written (before anything is read)."""
    from pathlib import Path

    from reconciler.files import check_writable
    from reconciler.manifests.load import discover

    files, problems = discover(paths)
    if problems:
        return None
    if writes:
        check_writable(Path(writes), files)
    return [str(file) for file in files]


def _same(guess: Sequence[AccountDesired], wants: Sequence[AccountDesired]) -> bool:
    from reconciler.live import to_read

    def shape(want: AccountDesired) -> tuple[Any, ...]:
        # The whole definition (endpoint, region, credential references, limits, retry; not
        # where it is written): what was read is the live state of exactly these accounts.
        read = to_read(want)  # what is read depends on whether protection ends on
        return (want.account, *(kind.managed(read) for kind in kinds()))

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
    look; raises on anything unexpected (the caller then reads after loading). Every Account
    document found must pass ``alone.checked_account``, else this raises: no account is read
    early in a run whose manifests are refused for an account's definition."""
    from reconciler import files as local
    from reconciler.manifests import load

    found, problems = load.discover(paths)
    if problems:
        raise ValueError("the manifests cannot all be found")
    accounts: dict[str, AccountDesired] = {}
    managed: dict[str, list[tuple[Kind, str]]] = {}  # account -> kinds, each document's head
    for file in found:
        text = local.read_text(file, local.MANIFEST_LIMIT, "manifest")
        if _odd_markers(text):
            raise ValueError("a line starts with --- but does not separate documents")
        spans = [(start, end, _kind(text, start, end)) for start, end in document_spans(text)]
        if any(kind == "Account" for _, _, kind in spans):
            for account in _accounts_of(text, file, sum(k == "Account" for _, _, k in spans)):
                if account.name in accounts:
                    raise ValueError("an account is defined twice")
                accounts[account.name] = AccountDesired(account)
        for start, end, kind in spans:
            if kind in RESOURCES:
                target = _ACCOUNT.search(text, start, min(end, start + HEAD))
                if target is None:
                    raise ValueError("a document's account is not in its first lines")
                head = text[start : min(end, start + HEAD)]
                managed.setdefault(target.group(1), []).append((RESOURCES[kind], head))
    guess = []
    for name, want in accounts.items():
        resources = managed.get(name, [])
        if names and name not in names:
            continue
        if not names and not resources:
            continue
        for resource, head in resources:
            resource.quick_look(want, head)
        guess.append(want)
    return guess


def _accounts_of(text: str, file: str, expected: int) -> list[Any]:
    """The ``Account`` documents of a file, parsed with the whole file (a piece that looks
    like an Account may sit inside a string the document before it leaves open): each must
    pass ``alone.checked_account``, and there must be as many as the quick look found; else
    this raises, and nothing is read early."""
    from reconciler.manifests import alone, yamlpos

    documents, problems = yamlpos.parse_documents(text, file)
    if problems:
        raise ValueError("a file holding an Account document does not parse")
    found = [d for d in documents if isinstance(d.data, dict) and d.data.get("kind") == "Account"]
    if len(found) != expected:
        raise ValueError("the Account documents are not where the quick look saw them")
    accounts = []
    for document in found:
        account = alone.checked_account(document)
        if account is None:
            raise ValueError("an Account document is not valid on its own")
        accounts.append(account)
    return accounts


def _kind(text: str, start: int, end: int) -> str | None:
    """The kind of the document written in ``text[start:end]`` (looked for in its first
    ``HEAD`` characters), or None for a piece without a document (blank lines and comments);
    raises if the piece holds something else, or a kind written otherwise than as one word on
    a ``kind:`` line."""
    line = _KIND.search(text, start, min(end, start + HEAD))
    if line is None:
        if _CONTENT.search(text, start, end) is not None:
            raise ValueError("a document's kind is not on a kind: line of its first lines")
        return None
    value = _KIND_VALUE.fullmatch(line.group(1))
    if value is None or value.group(2) not in KINDS:
        raise ValueError("a document's kind is not one the quick look knows")
    return value.group(2)


def _odd_markers(text: str) -> bool:
    """True if a line of ``text`` starts with ``---`` but is not a separator line: YAML may
    start a document there (``--- !tag``, ``--- {kind: ...}``), which the quick look cannot
    place; or if ``text`` holds a line break that PyYAML knows and the quick look does not
    (NEL, LS, PS: a document may start after one)."""
    if any(mark in text for mark in _OTHER_BREAKS):
        return True
    line = 0 if text.startswith("---") else _dashes_after(text, 0)
    while line >= 0:
        if _SEPARATOR.match(text, line) is None:
            return True
        line = _dashes_after(text, line + 3)
    return False
