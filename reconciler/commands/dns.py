"""``dns PATH... [--account NAME] [--format bind|octodns|json]``: the DNS records each managed
sending domain needs (SPEC §10), from ``DescDomain``, with each record's verification status.

Only the domains a ``MailDomainList`` names are shown, in its order; one not created yet is
"known after apply" (exit 0). Nothing is written to the provider.
"""

from __future__ import annotations

import argparse
from typing import cast

from reconciler import dns_records, live
from reconciler.commands.common import load, sandbox_state, select
from reconciler.errors import ExitCode, InputError
from reconciler.model import AccountDesired, Resource
from reconciler.output.console import Output


def run(args: argparse.Namespace, out: Output) -> int:
    from reconciler.providers.directmail import DirectMailClient

    state = load(args.paths, out)
    chosen = select(state, args.account or [])
    managing = [want for want in chosen if _domains(want)]
    if not managing:
        raise InputError(
            "no MailDomainList in the manifests"
            + (" for the accounts named" if args.account else "")
            + ": no sending domain to show the records of"
        )
    found: list[dns_records.Domain] = []
    with live.connect(managing, sandbox_state=sandbox_state(args), announce=not out.quiet) as (
        reading,
        clients,
    ):
        for want in reading:
            name = want.account.name
            client = cast(DirectMailClient, clients[name])
            ids = {d.name: d.id for d in client.list_domains()}
            for wanted in _domains(want):
                ident = ids.get(wanted)
                records = client.describe_domain(ident) if ident is not None else None
                found.append(dns_records.Domain(name, wanted, records))
    for domain in found:
        if domain.records is None:
            out.note(
                f"{domain.name} (account {domain.account}) is not created yet: its records "
                f"are {dns_records.UNKNOWN}"
            )
    out.write(dns_records.render(args.format, found))
    return ExitCode.OK


def _domains(want: AccountDesired) -> list[str]:
    return list(want.lists.get(Resource.MAIL_DOMAIN) or ())
