"""Safety rule 3 (lock-out, SPEC §5) judged offline, for ``validate``.

``plan`` judges rule 3 on the account's final state, read from the provider where the manifests
leave it open. Some final states the manifests decide alone: IP protection switched on by an
``IpProtection`` document, and a whitelist managed whole (``prune: true``, no ``ignore``
pattern), which ends up holding exactly its document's entries. Such an account is locked out
whatever the live state holds, so ``validate`` reports it as an error, in the rule's own words,
at the IpProtection's ``enabled`` (an empty whitelist) or at the sender left outside. Where the
final whitelist depends on live entries (``prune: false``, ``ignore``), nothing is said.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from reconciler.errors import Position, Problem
from reconciler.model import AccountDesired, IpEntry
from reconciler.refusals import LOCK_OUT, lock_out

# The documents rule 3 joins: an error in either leaves the account's final state unknown.
KINDS = ("IpProtection", "IpWhitelist")


def lock_out_problems(
    accounts: Mapping[str, AccountDesired],
    documents_at: Mapping[tuple[str, str], Position],
    doubtful: Collection[str],
) -> list[Problem]:
    """An error for each account the manifests alone lock out. ``documents_at``: where each
    account's document of each kind is; ``doubtful``: accounts whose IpProtection or
    IpWhitelist document has errors, whose final state is therefore not known."""
    whitelist_at = {name: at for (name, kind), at in documents_at.items() if kind == KINDS[1]}
    problems: list[Problem] = []
    for name, want in accounts.items():
        policy = want.whitelist_policy
        if (
            name in doubtful
            or not want.protection
            or want.whitelist is None
            or not policy.prune
            or policy.ignore
        ):
            continue
        refused = f"plan and apply refuse this by the {LOCK_OUT} rule unless --force"
        where = f"the IpWhitelist at {whitelist_at[name]}" if name in whitelist_at else "it"
        final = list(want.whitelist)
        if not final:
            for refusal in lock_out(name, final, ()):
                hint = f"{refused}; add the sending addresses to {where}, or set enabled: false"
                problems.append(Problem(want.protection_position, refusal.message, hint))
            continue
        for sender in want.senders:
            # One sender at a time, without its position: the problem carries that.
            for refusal in lock_out(name, final, (IpEntry(sender.address),)):
                hint = f"{refused}; add {sender.address} to {where}"
                problems.append(Problem(sender.position, refusal.message, hint))
    return problems
