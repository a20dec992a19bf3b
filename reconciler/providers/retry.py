"""Retrying provider calls (SPEC §6), and writes whose answer was lost.

A call is retried when its ``ProviderError`` is ``retryable``, with exponential backoff and full
jitter, never sooner than the provider's own hint (``retry_after``), and within both the
account's ``retry.attempts`` and ``retry.maxSeconds``.

A write is never repeated blindly. When an attempt may have reached the provider without an
answer saying so (``ProviderError.uncertain``: the connection was lost after sending, or a server
error), live state is read before the next attempt; a write that took effect is not repeated,
and one that did not is. If that check fails too, the write's error says its outcome is
unknown.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_random_exponential,
)

from reconciler.errors import ProviderError
from reconciler.model import RetryPolicy

T = TypeVar("T")
log = logging.getLogger("reconciler.providers")

# No single backoff wait is longer than this, however many attempts an account allows; a
# provider's own hint may still ask for more.
MAX_BACKOFF = 30.0


class Retrier:
    """Runs one call with the retries an account's ``RetryPolicy`` allows.

    ``sleep`` is what waits between attempts (tenacity's hook), replaceable in tests.
    """

    def __init__(
        self, provider: str, policy: RetryPolicy, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.provider = provider
        self.policy = policy
        self.sleep = sleep
        self._jitter = wait_random_exponential(multiplier=policy.base_delay, max=MAX_BACKOFF)

    def call(self, action: str, once: Callable[[], T]) -> T:
        """``once()``, retried while it fails with a retryable ``ProviderError``.

        The error that ends the retries says how many attempts were made.
        """
        attempts = 0

        def attempt() -> T:
            nonlocal attempts
            attempts += 1
            return once()

        retrying = Retrying(
            stop=stop_after_attempt(self.policy.attempts)
            | stop_before_delay(self.policy.max_seconds),
            wait=self._wait,
            retry=retry_if_exception(_retryable),
            before_sleep=lambda state: self._log_retry(action, state),
            sleep=self.sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except ProviderError as exc:
            exc.attempts = max(exc.attempts, attempts)
            raise

    def write(self, action: str, once: Callable[[], T], took_effect: Callable[[], T | None]) -> T:
        """Like ``call`` for a write: after an attempt that may have taken effect, ask
        ``took_effect()`` (which reads live state) before repeating it.

        ``took_effect`` returns what the write would have answered if it did take effect, or
        ``None`` if it did not.
        """
        unsure: ProviderError | None = None  # the last attempt's error, if it may have worked

        def attempt() -> T:
            nonlocal unsure
            if unsure is not None:
                found = self._check(action, unsure, took_effect)
                if found is not None:
                    return found
                log.info("%s %s did not take effect; repeating it", self.provider, action)
            try:
                result = once()
            except ProviderError as exc:
                unsure = exc if exc.uncertain else None
                raise
            unsure = None
            return result

        try:
            return self.call(action, attempt)
        except ProviderError as exc:
            if exc is not unsure:
                raise
            # The last attempt may have worked: look before reporting a failure.
            found = self._check(action, exc, took_effect)
            if found is not None:
                return found
            exc.uncertain = False  # it is known now: it did not take effect
            raise

    def _check(
        self, action: str, cause: ProviderError, took_effect: Callable[[], T | None]
    ) -> T | None:
        log.info(
            "%s %s: %s; reading live state to see whether it took effect",
            self.provider,
            action,
            _what(cause),
        )
        try:
            found = took_effect()
        except ProviderError as exc:
            raise ProviderError(
                f"{cause.provider_message}; whether it took effect is unknown, "
                f"since reading live state failed too: {exc}",
                provider=cause.provider,
                action=cause.action,
                code=cause.code,
                request_id=cause.request_id,
                http_status=cause.http_status,
                uncertain=True,
                account=cause.account,
            ) from None
        if found is not None:
            log.info("%s %s had taken effect; not repeating it", self.provider, action)
        return found

    def _wait(self, state: RetryCallState) -> float:
        """Full jitter, but never sooner than the provider asked."""
        backoff = self._jitter(state)
        error = state.outcome.exception() if state.outcome is not None else None
        hint = error.retry_after if isinstance(error, ProviderError) else None
        return max(backoff, hint or 0.0)

    def _log_retry(self, action: str, state: RetryCallState) -> None:
        # The action, the error's code and the wait: never a parameter value.
        error = state.outcome.exception() if state.outcome is not None else None
        log.info(
            "%s %s: %s; retry %d of %d in %.2f s",
            self.provider,
            action,
            _what(error),
            state.attempt_number,
            self.policy.attempts - 1,
            state.upcoming_sleep,
        )


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, ProviderError) and exc.retryable


def _what(error: BaseException | None) -> str:
    if not isinstance(error, ProviderError):
        return type(error).__name__
    if error.code is None:
        return error.provider_message  # a network error: its kind, never its text
    status = f" (HTTP {error.http_status})" if error.http_status is not None else ""
    return f"{error.code}{status}"
