"""``export PATH... [--account NAME]``: write live state as manifests (every account of the
manifests unless --account names some)."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from reconciler import export as exporting
from reconciler import export_stream as streamed
from reconciler import live
from reconciler.commands.common import load, sandbox_state, select
from reconciler.errors import ExitCode, InputError
from reconciler.export_yaml import chunks
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
    warnings: list[str] = []
    # A SendCloud list is spooled to files beside the output as its pages arrive (or in the
    # system's temporary directory for stdout), and the output is written into a temporary
    # file, renamed (or copied to stdout) only once every list proved complete.
    spools = Path(target.parent if target is not None else tempfile.gettempdir())
    with (
        live.connect(reading, sandbox_state=sandbox_state(args), announce=not out.quiet) as (
            reading,
            clients,
        ),
        _spool_directory(spools, target) as directory,
    ):
        found = streamed.read(reading, clients, directory)
        documents = list(streamed.documents(accounts, definitions, found, clients, warnings))
        schema = exporting.schema_reference(target.parent if target is not None else Path.cwd())
        modelines = exporting.modeline_warning(schema)
        if modelines is not None:
            warnings.append(modelines)
        if target is None:
            with tempfile.TemporaryFile("w+", encoding="utf-8", dir=directory) as text:
                text.writelines(chunks(documents, schema))
                text.seek(0)
                _warn(warnings, out)
                while piece := text.read(1 << 16):
                    out.write(piece)
        else:
            write_atomic(target, chunks(documents, schema))
            _warn(warnings, out)
            out.note(f"Wrote {counted(len(documents), 'document')} to {target}.")
    return ExitCode.OK


def _warn(warnings: list[str], out: Output) -> None:
    for warning in warnings:
        out.warn(warning)


@contextmanager
def _spool_directory(parent: Path, target: Path | None) -> Iterator[Path]:
    """A temporary directory in ``parent`` (created if need be: ``--out`` may name a new
    directory), removed with all it holds however the export ends."""
    made = not parent.exists()
    try:
        parent.mkdir(parents=True, exist_ok=True)
        name = f".{target.name}." if target is not None else "reconciler-export-"
        directory = tempfile.mkdtemp(prefix=name, suffix=".spool", dir=parent)
    except OSError as exc:
        raise InputError(f"cannot write {target or parent}: {exc.strerror or exc}") from None
    try:
        yield Path(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
        if made and target is not None and not target.exists():
            with suppress(OSError):
                parent.rmdir()
