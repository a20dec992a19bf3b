"""The exception tree. ``cli.py`` is the one place that turns these into messages and exit codes.

::

    ReconcilerError                 exit_code
    ├── InputError                  3  invalid manifests, plan file, flags or usage
    │   └── ManifestError           3  carries every Problem found in one run
    ├── ProviderError               1  a provider call or the network failed
    │   └── ... (code, message, request_id, action, retryable, retry_after, uncertain)
    └── RefusedError                4  a safety rule, a stale plan, incomplete live state

Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class ExitCode:
    OK = 0
    PROVIDER = 1
    CANCELLED = 1  # apply answered "no" at the prompt, as Terraform does
    CHANGES = 2
    INPUT = 3
    REFUSED = 4
    ROLLED_BACK = 5  # apply: a guard failed; its changes were rolled back (SPEC §11)
    ROLLBACK_INCOMPLETE = 6  # apply: a guard failed; the roll-back did not complete


class ReconcilerError(Exception):
    """Base of every error the CLI knows how to report."""

    exit_code = ExitCode.INPUT


class InputError(ReconcilerError):
    """Bad input that is not tied to a manifest position (flags, environment, plan file)."""

    exit_code = ExitCode.INPUT


@dataclass(frozen=True, order=True, slots=True)
class Position:
    """A place in a manifest file; line and column are 1-based, as editors show them."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the manifests: where, what, and (if known) what would be right."""

    position: Position | None
    message: str
    hint: str | None = None
    warning: bool = False

    def __str__(self) -> str:
        where = f"{self.position}: " if self.position else ""
        kind = "warning" if self.warning else "error"
        text = f"{where}{kind}: {_clip(self.message)}"
        if self.hint:
            text += f" ({_clip(self.hint)})"
        return text


# A message quotes what it found; a 10 MB value must not become a 10 MB line.
MESSAGE_LIMIT = 400


def _clip(text: str) -> str:
    if len(text) <= MESSAGE_LIMIT:
        return text
    return f"{text[: MESSAGE_LIMIT - 60]}… [{len(text) - MESSAGE_LIMIT + 60:,} characters cut]"


class ManifestError(InputError):
    """All the problems found in the manifests of one run, reported together."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = sorted(
            problems, key=lambda p: (p.position or Position("", 0, 0), p.message)
        )
        count = len(self.problems)
        super().__init__(f"{count} error{'s' if count != 1 else ''} in the manifests")


class ProviderError(ReconcilerError):
    """A provider call failed. Carries the context it came from; never a secret.

    ``retryable``: trying the same call again may succeed (network errors, 5xx, throttling).
    ``retry_after``: seconds the provider asked to wait first (``Retry-After`` or
    ``x-acs-retry-after``), if it said. ``uncertain``: the provider may have carried the call
    out although no answer said so (the connection was lost after sending, or a 5xx); for a
    write, whether it took effect is unknown until live state is read again. ``attempts``:
    how many times the call was tried before giving up. ``account``: the manifest's name of
    the account the call was for, when the client knows it; ``host``: its endpoint's
    ``host:port``. ``hint``: what to fix, on a line of its own (an account's credential
    reference, when the provider refused its keys).
    """

    exit_code = ExitCode.PROVIDER

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        action: str,
        code: str | None = None,
        request_id: str | None = None,
        http_status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        uncertain: bool = False,
        attempts: int = 1,
        account: str | None = None,
        host: str | None = None,
    ) -> None:
        self.provider = provider
        self.account = account
        self.host = host
        self.action = action
        self.code = code
        self.provider_message = message
        self.request_id = request_id
        self.http_status = http_status
        self.retryable = retryable
        self.retry_after = retry_after
        self.uncertain = uncertain
        self.attempts = attempts
        self.hint: str | None = None
        super().__init__(str(self))

    def __str__(self) -> str:
        # The endpoint's host:port, unless a network error's message says it already.
        said = self.host and f"to {self.host}" in self.provider_message
        host = None if said else self.host
        where = " ".join(filter(None, (self.account, f"({host})" if host else None)))
        parts = [f"account {where}: " if self.account else (f"{where}: " if where else "")]
        parts.append(f"{self.provider} {self.action} failed")
        if self.code:
            parts.append(f": {self.code}")
        parts.append(f": {self.provider_message}")
        extra = []
        if self.http_status is not None:
            extra.append(f"HTTP {self.http_status}")
        if self.request_id:
            extra.append(f"request id {self.request_id}")
        if self.attempts > 1:
            extra.append(f"after {self.attempts} attempts")
        text = "".join(parts)
        text = f"{text} ({', '.join(extra)})" if extra else text
        return f"{text}\n  {self.hint}" if self.hint else text


class ProviderErrors(ProviderError):
    """Calls of several accounts failed (each account's error, in manifest order), reported
    together. Its fields and exit code are those of the first."""

    def __init__(self, errors: Sequence[ProviderError]) -> None:
        first = errors[0]
        super().__init__(
            first.provider_message,
            provider=first.provider,
            action=first.action,
            code=first.code,
            request_id=first.request_id,
            http_status=first.http_status,
            retryable=first.retryable,
            retry_after=first.retry_after,
            uncertain=first.uncertain,
            attempts=first.attempts,
            account=first.account,
            host=first.host,
        )
        self.errors = list(errors)
        self.hint = first.hint
        self.exit_code = first.exit_code
        self.args = (str(self),)

    def __str__(self) -> str:
        if not getattr(self, "errors", None):
            return super().__str__()
        lines = "\n".join("  " + str(e).replace("\n", "\n  ") for e in self.errors)
        return f"{len(self.errors)} accounts failed:\n{lines}"


class RefusedError(ReconcilerError):
    """A run was refused: nothing was written."""

    exit_code = ExitCode.REFUSED
