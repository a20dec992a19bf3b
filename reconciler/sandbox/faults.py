"""Fault injection: the single place where the sandbox stops behaving like a healthy service.

The HTTP layer calls ``Faults.before`` once a request is known to be a call of some action and
``Faults.after`` once the call has been handled (its write, if any, already took effect). Every
kind of fault belongs in these two hooks, so the provider handlers stay faithful emulations.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from reconciler.model import Provider
from reconciler.sandbox.wire import Reply


@dataclass
class Faults:
    """What to inject. ``seed`` makes any randomized fault reproducible."""

    latency: float = 0.0  # seconds added to every call
    seed: int | None = None
    rng: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.latency < 0:
            raise ValueError("latency must not be negative")
        self.rng = random.Random(self.seed)

    def before(self, provider: Provider, action: str) -> Reply | None:
        """Runs before the call is authenticated and handled.

        Returning a Reply answers the call with it and skips the handler: the hook for injected
        errors and throttling. ``None`` lets the call proceed.
        """
        if self.latency > 0:
            time.sleep(self.latency)
        return None

    def after(self, provider: Provider, action: str, reply: Reply) -> Reply:
        """Runs after the call was handled; returns the reply to send.

        The hook for faults that happen once a write has taken effect (a lost response) and for
        altered answers (a truncated list).
        """
        return reply
