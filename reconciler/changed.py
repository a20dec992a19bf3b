"""``plan --changed-since REF``: the accounts whose documents differ from a git ref.

The documents of an account are its ``Account`` document and every document naming it
(``spec.account``). In the manifest files that differ from ``REF`` — changed, added, deleted or
not yet committed — the documents are parsed in ``REF``'s version and in the current one and
compared per account, as parsed values: an account is changed when the documents naming it
differ (one edited, added, removed, or moved to another account), not merely because another
account's document in the same file changed. Moving a document from one file to another, or
editing comments and layout, changes nothing. A version that cannot be parsed cannot be
compared: every account its other version names counts as changed.

The current files are read as the loader reads them (regular files, the manifest size bound,
UTF-8); ``REF``'s versions are read from git, within the same size bound. ``git`` runs as a
subprocess, in the directory of the first path.
"""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from reconciler import files as local
from reconciler.errors import InputError

TIMEOUT = 60.0
SUFFIXES = (".yaml", ".yml")
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Per account, how many times each document (as a hashable value) is written.
Documents = dict[str, Counter[Any]]


def changed_accounts(ref: str, paths: Sequence[str], loaded: Sequence[str]) -> set[str]:
    """Names of the accounts whose documents differ between ``ref`` and the working tree, in
    the manifest files under ``paths``; ``loaded`` are the files loading read (they count
    whatever their name; a file under ``paths`` that loading skips counts only in ``ref``'s
    version). Raises ``InputError`` outside a git repository or for a ref that names no
    commit."""
    where = Path(paths[0]) if paths else Path.cwd()
    cwd = where if where.is_dir() else where.parent
    top = Path(
        _text(
            cwd,
            ["rev-parse", "--show-toplevel"],
            f"--changed-since: {cwd} is not in a git "
            "repository (it compares the manifests with a git ref)",
        ).strip("\n")
    )
    commit = _text(
        cwd,
        ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"],
        f"--changed-since: {ref!r} names no commit of the git repository at {top}",
    ).strip("\n")
    listed = _git(top, ["diff", "--name-only", "-z", "--no-renames", commit, "--"], "")
    untracked = _git(top, ["ls-files", "--others", "--exclude-standard", "-z"], "")
    names = sorted({os.fsdecode(n) for n in (listed + b"\0" + untracked).split(b"\0") if n})
    current = {Path(f).resolve(): f for f in loaded}
    roots = [Path(p).resolve() for p in paths]
    texts: dict[str, str] = {}
    for name in names:
        path = (top / name).resolve()
        if path in current:
            texts[name] = local.read_text(current[path], local.MANIFEST_LIMIT, "manifest")
        elif name.endswith(SUFFIXES) and any(path == r or r in path.parents for r in roots):
            texts[name] = ""  # not read now (deleted, or skipped by loading): no documents
    old = _blobs(top, commit, list(texts))
    before: Documents = {}
    now: Documents = {}
    touched: set[str] = set()
    for name, text in texts.items():
        was, is_now = _parsed(old.get(name, "")), _parsed(text)
        if was is None or is_now is None:
            # A version that cannot be parsed cannot be compared: what the other one names
            # counts as changed.
            touched.update(account for account, _ in was or is_now or ())
            continue
        for documents, into in ((was, before), (is_now, now)):
            for account, document in documents:
                into.setdefault(account, Counter())[document] += 1
    return touched | {a for a in before.keys() | now.keys() if before.get(a) != now.get(a)}


def _parsed(text: str | None) -> list[tuple[str, Any]] | None:
    """``(account, document as a hashable value)`` for each document of ``text`` that defines
    or names an account; None if ``text`` is None or not YAML."""
    if text is None:
        return None
    found = []
    try:
        for document in yaml.load_all(text, Loader=_Loader):
            account = _account(document)
            if account is not None:
                found.append((account, _frozen(document)))
    # What PyYAML raises for text it cannot read, a value it cannot build (a date such as
    # 2024-13-45) or nesting too deep to compare.
    except (yaml.YAMLError, ValueError, RecursionError):
        return None
    return found


def _account(document: Any) -> str | None:
    """The account ``document`` defines (an ``Account``) or names (``spec.account``)."""
    if not isinstance(document, dict):
        return None
    spec = document.get("spec")
    metadata = document.get("metadata")
    if document.get("kind") == "Account" and isinstance(metadata, dict):
        return str(metadata.get("name"))
    if isinstance(spec, dict) and "account" in spec:
        return str(spec["account"])
    return None


def _frozen(value: Any) -> Any:
    """``value`` as a hashable value equal to another exactly when the two are equal, keys in
    any order; types are kept (``1`` and ``1.0`` and ``"1"`` differ)."""
    if isinstance(value, dict):
        return ("map", frozenset((_frozen(k), _frozen(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("seq", tuple(_frozen(item) for item in value))
    return (type(value).__name__, repr(value))


def _blobs(top: Path, commit: str, names: Sequence[str]) -> dict[str, str | None]:
    """The text of each file ``names`` at ``commit`` (read through git): absent if the file
    is not in that commit, None if it cannot be read as the loader would read it (larger
    than the manifest bound, not a file, not UTF-8)."""
    if not names:
        return {}
    listing = _git(
        top, ["--literal-pathspecs", "ls-tree", "-z", "-l", "--full-tree", commit, "--", *names], ""
    )
    found: dict[str, str | None] = {}
    wanted: list[tuple[str, str, int]] = []
    for row in listing.split(b"\0"):
        if not row:
            continue
        info, _, raw = row.partition(b"\t")
        _mode, kind, oid, written = info.decode("ascii").split()
        name = os.fsdecode(raw)
        if kind != "blob" or not written.isdigit() or int(written) > local.MANIFEST_LIMIT:
            found[name] = None
        else:
            wanted.append((name, oid, int(written)))
    if wanted:
        batch = "".join(f"{blob[1]}\n" for blob in wanted).encode("ascii")
        out = _git(top, ["cat-file", "--batch"], "", stdin=batch)
        position = 0
        for name, _oid, _size in wanted:
            # "<oid> blob <size>" then the content, or "<oid> missing" (a partial clone).
            header_end = out.index(b"\n", position)
            header = out[position:header_end].split()
            position = header_end + 1
            if len(header) != 3 or header[1] != b"blob":
                found[name] = None
                continue
            size = int(header[2])
            found[name] = _decoded(out[position : position + size])
            position += size + 1
    return found


def _decoded(data: bytes) -> str | None:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _text(cwd: Path, args: list[str], problem: str) -> str:
    return os.fsdecode(_git(cwd, args, problem))


def _git(cwd: Path, args: list[str], problem: str, *, stdin: bytes | None = None) -> bytes:
    """What ``git ARGS`` writes on stdout; ``InputError`` (``problem``, or one naming the
    command) if it fails."""
    command = next(arg for arg in args if not arg.startswith("-"))
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            input=stdin,
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise InputError("--changed-since needs git, which is not installed") from None
    except subprocess.TimeoutExpired:
        raise InputError(f"git {command} took over {TIMEOUT:g} s (--changed-since)") from None
    if proc.returncode != 0:
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        what = problem or f"--changed-since: git {command} failed in {cwd}"
        raise InputError(what + (f" ({detail[-1]})" if detail and not problem else ""))
    return proc.stdout
