"""Safety rule 3 (lock-out, SPEC §5): the one rule that joins two kinds, DirectMail's IP
protection switch (``IpProtection``) and its IP whitelist (``IpWhitelist``).

``plan`` judges it on the account's final state (``judge``, the switch kind's own rule), read
from the provider where the manifests leave it open. Some final states the manifests decide
alone: protection switched on, and a whitelist managed whole (``prune: true``, no ``ignore``
pattern), which ends up holding exactly its document's entries. Such an account is locked out
whatever the live state holds, so ``validate`` reports it as an error (``offline``), in the
rule's own words, at the IpProtection's ``enabled`` (an empty whitelist) or at the sender left
outside. Where the final whitelist depends on live entries, ``validate`` says nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from reconciler.addresses import ip_entry_bounds
from reconciler.errors import Position, Problem
from reconciler.model import AccountDesired, AccountLive, Action, Change, IpEntry, Resource
from reconciler.refusals import LOCK_OUT, Refusal

# The documents the rule joins: an error in either leaves the account's final state unknown.
KINDS = ("IpProtection", "IpWhitelist")


def judge(
    account: str,
    want: AccountDesired,
    have: AccountLive,
    changes: Mapping[Resource, Sequence[Change]],
) -> list[Refusal]:
    """Rule 3 on the plan's final state (protection on, the addresses the whitelist ends up
    holding) whether or not the manifests manage the whitelist, but only for a plan that
    changes the switch or the whitelist: an account already in that state is not made worse by
    a plan that leaves both alone."""
    protection_after = want.protection if want.protection is not None else have.protection
    deletes = [c for c in changes.get(Resource.IP_WHITELIST, ()) if c.action is Action.DELETE]
    final = _final_whitelist(want, have, deletes)
    if protection_after and final is not None and _touched(want, have, changes):
        return lock_out(account, final, want.senders)
    return []


def _touched(
    want: AccountDesired, have: AccountLive, changes: Mapping[Resource, Sequence[Change]]
) -> bool:
    """Whether the plan switches protection, or adds to or takes from a whitelist it manages
    and read (collapsing a live duplicate takes no address)."""
    if changes.get(Resource.IP_PROTECTION):
        return True
    if want.whitelist is None or have.whitelist is None:
        return False
    return any(
        c.action is Action.CREATE or (c.action is Action.DELETE and c.key not in want.whitelist)
        for c in changes.get(Resource.IP_WHITELIST, ())
    )


def _final_whitelist(
    want: AccountDesired, have: AccountLive, deletes: Sequence[Change]
) -> set[str] | None:
    """The addresses the whitelist holds once the plan is carried out; ``None`` when that is
    unknown (it was not read, or not in full). An unmanaged whitelist stays as it is."""
    if have.whitelist is None:
        return None
    if have.whitelist_total is not None and len(have.whitelist) < have.whitelist_total:
        return None
    final = {entry.key for entry in have.whitelist}
    if want.whitelist is not None:
        final -= {c.key for c in deletes}
        final |= set(want.whitelist)
    return final


def lock_out(account: str, final: Collection[str], senders: Sequence[IpEntry]) -> list[Refusal]:
    """Rule 3 on the final whitelist ``final``: the plan's, or the one ``validate`` knows from
    the manifests alone when they manage it whole (``prune``, nothing ignored) and switch
    protection on."""
    protection = Resource.IP_PROTECTION.value
    if not final:
        message = (
            f"{account}: IP protection would be enabled with an empty IP whitelist, "
            "which blocks every sending IP"
        )
        return [Refusal(LOCK_OUT, message, account, protection)]
    bounds = [b for b in map(_bounds, final) if b is not None]
    refusals: list[Refusal] = []
    for sender in senders:
        first, last = ip_entry_bounds(sender.address)
        if any(low <= first and last <= high for low, high in bounds):
            continue
        where = f" (declared at {sender.position})" if sender.position else ""
        refusals.append(
            Refusal(
                LOCK_OUT,
                f"{account}: IP protection would be enabled while sender {sender.address}"
                f"{where} lies outside every entry of the final IP whitelist, which blocks "
                "its mail",
                account,
                protection,
            )
        )
    return refusals


def _bounds(address: str) -> tuple[int, int] | None:
    try:
        return ip_entry_bounds(address)
    except ValueError:  # a live entry in a form we cannot parse covers nothing we can prove
        return None


def offline(
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
