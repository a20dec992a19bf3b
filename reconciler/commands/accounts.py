"""``accounts PATH...``: the accounts the manifests define, for a CI matrix (one job each).

Offline, like validate: the manifests are read and checked, nothing is resolved or called.
"""

from __future__ import annotations

import argparse
import json

from reconciler.commands.common import load
from reconciler.errors import ExitCode
from reconciler.output.console import Output


def run(args: argparse.Namespace, out: Output) -> int:
    state = load(args.paths, out)
    rows = [
        {
            "name": want.account.name,
            "provider": want.account.provider.value,
            "region": want.account.region,
        }
        for want in state.accounts.values()
    ]
    if args.format == "json":  # a list: a CI matrix (`include:`) takes it as is
        out.write(json.dumps(rows, indent=2) + "\n")
    else:
        width = max((len(row["name"] or "") for row in rows), default=0)
        out.write("".join(f"{row['name']:<{width}}  {row['provider']}\n" for row in rows))
    return ExitCode.OK
