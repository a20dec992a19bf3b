"""``plan --changed-since REF``: the accounts whose documents differ from a git ref.

The documents of an account are its ``Account`` document and every document naming it
(``spec.account``). A manifest file that differs from ``REF`` — changed, added, deleted or not
yet committed — marks every account its documents name, in ``REF``'s version and in the
current one: so a deleted document, or a document moved to another account, counts for both.
``git`` runs as a subprocess, in the directory of the first path.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from reconciler import files
from reconciler.errors import InputError

TIMEOUT = 60.0
SUFFIXES = (".yaml", ".yml")


def changed_accounts(ref: str, paths: Sequence[str]) -> set[str]:
    """Names of the accounts the manifest files under ``paths`` name, in the files that
    differ between ``ref`` and the working tree. Raises ``InputError`` outside a git
    repository or for a ref that names no commit."""
    where = Path(paths[0]) if paths else Path.cwd()
    cwd = where if where.is_dir() else where.parent
    top = Path(
        _git(
            cwd,
            ["rev-parse", "--show-toplevel"],
            f"--changed-since: {cwd} is not in a git "
            "repository (it compares the manifests with a git ref)",
        )
    )
    commit = _git(
        cwd,
        ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"],
        f"--changed-since: {ref!r} names no commit of the git repository at {top}",
    )
    listed = _git(top, ["diff", "--name-only", "-z", "--no-renames", commit, "--"], "")
    untracked = _git(top, ["ls-files", "--others", "--exclude-standard", "-z"], "")
    names = {n for n in (listed + "\0" + untracked).split("\0") if n.endswith(SUFFIXES)}
    roots = [Path(p).resolve() for p in paths]
    accounts: set[str] = set()
    for name in sorted(names):
        path = (top / name).resolve()
        if not any(path == root or root in path.parents for root in roots):
            continue
        if path.is_file():
            data = files.read_bytes(path, files.MANIFEST_LIMIT, "manifest")
            accounts |= _named(data.decode("utf-8", errors="replace"))
        old = _git(top, ["show", f"{commit}:{name}"], "", check=False)
        accounts |= _named(old)
    return accounts


def _named(text: str) -> set[str]:
    """Accounts the documents of ``text`` define or name; unreadable YAML names none (the
    manifests are validated as they are loaded anyway)."""
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        return set()
    return set(_names(documents))


def _names(documents: Iterable[Any]) -> Iterable[str]:
    for document in documents:
        if not isinstance(document, dict):
            continue
        spec = document.get("spec")
        metadata = document.get("metadata")
        if document.get("kind") == "Account" and isinstance(metadata, dict):
            yield str(metadata.get("name"))
        elif isinstance(spec, dict) and "account" in spec:
            yield str(spec["account"])


def _git(cwd: Path, args: list[str], problem: str, *, check: bool = True) -> str:
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise InputError("--changed-since needs git, which is not installed") from None
    except subprocess.TimeoutExpired:
        raise InputError(f"git {args[0]} took over {TIMEOUT:g} s (--changed-since)") from None
    if proc.returncode != 0:
        if not check:
            return ""
        detail = proc.stderr.strip().splitlines()
        what = problem or f"--changed-since: git {args[0]} failed in {cwd}"
        raise InputError(what + (f" ({detail[-1]})" if detail and not problem else ""))
    return proc.stdout.strip("\n") if args[0] == "rev-parse" else proc.stdout
