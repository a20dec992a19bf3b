"""Why ``apply --plan`` did not carry out a saved plan, as a rule a script can read.

Each reason is a refusal ``rule`` of the apply report (``--format json``: ``plan.refusals``),
beside the safety rules (``mass-deletion``, ``emptying``, ``lock-out``,
``incomplete-live-state``), so that CI tells a stale plan from an edited one by a name, not by
the wording of a message:

============================  ====  ==========================================================
rule                          exit  the saved plan ...
============================  ====  ==========================================================
``plan-invalid``              3     is not a saved plan this release can read (not JSON, not
                                    the schema, missing, not a regular file)
``plan-format-version``       3     has a ``format_version`` this release does not read
``plan-sandbox``              3     was made with ``--sandbox`` and applied without, or the
                                    other way round
``plan-inconsistent``         3, 4  disagrees with itself: a change the live state it records
                                    does not allow, or changes, summary or refusals that are not
                                    what its own inputs make (edited)
``plan-digest``               4     does not match its digest (edited)
``plan-mac``                  4     has a wrong MAC (edited, or made with another key)
``plan-unsigned``             4     has no MAC although ``RECONCILER_PLAN_KEY`` is set
``plan-mac-unchecked``        4     has a MAC but ``RECONCILER_PLAN_KEY`` is not set (and
                                    ``--allow-unsigned`` was not given)
``plan-expired``              4     is older than ``--max-age``, or made in the future
``plan-manifests``            4     was not made from the manifests at the PATHs given
``plan-stale``                4     saw live state that has changed since (``stale`` lists it)
============================  ====  ==========================================================
"""

from __future__ import annotations

from reconciler.errors import InputError, RefusedError
from reconciler.plan import Refusal

INVALID = "plan-invalid"
FORMAT_VERSION = "plan-format-version"
SANDBOX = "plan-sandbox"
INCONSISTENT = "plan-inconsistent"
DIGEST = "plan-digest"
MAC = "plan-mac"
UNSIGNED = "plan-unsigned"
MAC_UNCHECKED = "plan-mac-unchecked"
EXPIRED = "plan-expired"
MANIFESTS = "plan-manifests"
STALE = "plan-stale"

RULES = (
    INVALID,
    FORMAT_VERSION,
    SANDBOX,
    INCONSISTENT,
    DIGEST,
    MAC,
    UNSIGNED,
    MAC_UNCHECKED,
    EXPIRED,
    MANIFESTS,
    STALE,
)


class PlanInvalid(InputError):
    """A saved plan that cannot be applied as given (exit 3), and the rule saying why."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


class PlanRefused(RefusedError):
    """A saved plan refused (exit 4), and the rule saying why."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


def refusal(rule: str, message: str) -> Refusal:
    """The report's refusal for a saved plan; never overridable (``--force`` does not apply)."""
    return Refusal(rule, message, overridable=False)
