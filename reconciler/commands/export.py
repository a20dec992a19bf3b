"""``export PATH... [--account NAME]``: write live state as manifests (every account of the
manifests unless --account names some)."""

from __future__ import annotations

import argparse
from pathlib import Path

from reconciler import export as exporting
from reconciler import live
from reconciler.commands.common import load, sandbox_state, select
from reconciler.errors import ExitCode, InputError
from reconciler.files import check_writable, write_atomic
from reconciler.output.console import Output, counted


def run(args: argparse.Namespace, out: Output) -> int:
    state = load(args.paths, out)
    target = Path(args.out) if args.out else None
    if target is not None and target.resolve() in {Path(f).resolve() for f in state.files}:
        raise InputError(f"--out {args.out} is a manifest being read; write the export elsewhere")
    if target is not None and target.is_dir():
        raise InputError(f"--out {args.out} is a directory; name a file")
    if target is not None:
        check_writable(target, state.files)
    if not state.accounts:
        raise InputError("the manifests define no account: nothing to export")
    accounts = [want.account for want in select(state, args.account or list(state.accounts))]
    definitions = [exporting.account_document(account) for account in accounts]
    reading = [exporting.reading(account) for account in accounts]
    with live.connect(reading, sandbox_state=sandbox_state(args), announce=not out.quiet) as (
        reading,
        clients,
    ):
        found = live.read(reading, clients)
    result = exporting.export_accounts(accounts, definitions, found)
    for warning in result.warnings:
        out.warn(warning)
    modelines = exporting.modeline_warning(
        exporting.schema_reference(Path.cwd() if target is None else target.parent)
    )
    if modelines is not None:
        out.warn(modelines)
    if target is None:
        for piece in result.chunks(Path.cwd()):
            out.write(piece)
    else:
        write_atomic(target, result.chunks(target.parent))
        out.note(f"Wrote {counted(len(result.documents), 'document')} to {target}.")
    return ExitCode.OK
