"""Read manifests into the desired state: find files, parse with positions, validate, build.

Steps, each reporting every problem it finds rather than the first:

1. find the files (``_discover``: directories are searched for ``*.yaml`` and ``*.yml``);
2. parse each file with ``yamlpos`` (positions of every value and key);
3. validate each document against ``schemas/manifest.schema.json`` (``schema_errors``);
4. check each schema-valid document's meaning (``checks``) and the documents against each other
   (names, account references; each document's kind loads it: ``Kind.load``);
5. build a ``DesiredState`` — or raise ``ManifestError`` with every error of the run.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.document import Document
from reconciler.errors import ManifestError, Position, Problem
from reconciler.kinds import Kind, kinds, lockout
from reconciler.manifests import checks, delivery, yamlpos
from reconciler.manifests.alone import document_problems
from reconciler.manifests.readable import LIST_FIELDS, list_only
from reconciler.model import (
    AccountDesired,
    DeliveryCheck,
    DesiredState,
    Provider,
    Resource,
)

MANIFEST_SUFFIXES = (".yaml", ".yml")
# A directory holding a file of this name is skipped when a directory above it is searched;
# naming the directory (or a file in it) on the command line still reads it.
IGNORE_MARKER = ".reconcilerignore"
# Which provider's account each document kind manages.
KIND_PROVIDER: Mapping[str, Provider] = {
    **{kind.document: kind.provider for kind in kinds()},
    "DeliveryCheck": Provider.ALIYUN_DM,
}
# The managed kinds by the document they are written in.
BY_DOCUMENT: Mapping[str, Kind] = {kind.document: kind for kind in kinds()}


def _walk(directory: str) -> list[str]:
    found: list[tuple[tuple[str, ...], str]] = []
    for root, dirs, names in os.walk(directory):
        # Hidden directories (.git, .github) hold YAML that is not ours, and so does a
        # directory marked with IGNORE_MARKER (CI workflows kept beside the manifests).
        dirs[:] = [
            name
            for name in dirs
            if not name.startswith(".")
            and not os.path.exists(os.path.join(root, name, IGNORE_MARKER))
        ]
        for name in names:
            if name.endswith(MANIFEST_SUFFIXES) and not name.startswith("."):
                relative = os.path.relpath(os.path.join(root, name), directory)
                # "reconciler plan ." reports b.yaml, not ./b.yaml; other prefixes are kept.
                path = (
                    relative
                    if os.path.normpath(directory) == os.curdir
                    else os.path.join(directory, relative)
                )
                found.append((Path(relative).parts, path))
    return [path for _, path in sorted(found)]


def _discover(paths: Sequence[str | os.PathLike[str]]) -> tuple[list[str], list[Problem]]:
    """The manifest files under ``paths``, in order: files as given, directories recursively
    (``*.yaml`` and ``*.yml`` in sorted order, skipping hidden entries and directories marked
    with ``IGNORE_MARKER``); and a problem for a missing path or a directory without them."""
    files: list[str] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    for given in paths:
        name = os.fspath(given)
        if os.path.isdir(name):
            found = _walk(name)
            if not found:
                problems.append(Problem(None, f"no *.yaml or *.yml files under {name}"))
        elif os.path.exists(name):
            found = [name]
        else:
            problems.append(Problem(None, f"{name}: no such file or directory"))
            continue
        for path in found:
            # A file named twice (or inside a directory also given) is read once.
            real = os.path.realpath(path)
            if real not in seen:
                seen.add(real)
                files.append(path)
    return files, problems


# What ``plan`` checks before it starts reading live state early (``reconciler.prefetch``).
discover = _discover


@dataclass
class _Build:
    """Everything the cross-document checks accumulate while building the desired state."""

    problems: list[Problem]
    accounts: dict[str, AccountDesired] = field(default_factory=dict)
    # Names of every Account document seen, valid or not: a reference to a broken account
    # must not add "unknown account" to the error that account already has.
    account_names: set[str] = field(default_factory=set)
    names: dict[tuple[str, str], Position] = field(default_factory=dict)
    # What each kind keeps while the documents are loaded (``Kind.load``), by resource.
    kind_state: dict[Resource, dict[Any, Any]] = field(default_factory=dict)
    checks: list[DeliveryCheck] = field(default_factory=list)
    # Accounts whose document of a kind rule 3 joins has errors: their final state is
    # not what the manifests say, so the offline lock-out judgement leaves them alone.
    doubtful: set[str] = field(default_factory=set)

    # (account, document kind) -> where its one document per account is.
    once_at: dict[tuple[str, str], Position] = field(default_factory=dict)

    def add(self, position: Position | None, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem(position, message, hint))

    def state(self, resource: Resource) -> dict[Any, Any]:
        """What ``resource``'s kind keeps between its documents while they are loaded."""
        return self.kind_state.setdefault(resource, {})

    def once_per_account(self, doc: Document, kind: str) -> bool:
        """Whether ``doc`` is the first ``kind`` document of its account (else an error)."""
        account: str = doc.data["spec"]["account"]
        here = doc.position(("spec", "account"))
        first = self.once_at.setdefault((account, kind), here)
        if first is not here:
            article = "an" if kind[0] in "AEIOU" else "a"
            self.add(
                here,
                f"account '{account}' already has {article} {kind} (at {first})",
                f"at most one {kind} per account; merge the two",
            )
            return False
        return True


def _unique_name(build: _Build, doc: Document, kind: str) -> bool:
    name = doc.data["metadata"]["name"]
    here = doc.position(("metadata", "name"))
    first = build.names.setdefault((kind, name), here)
    if first is not here:
        build.add(
            here,
            f"{kind} '{name}' is defined twice (first at {first})",
            "names are unique per kind",
        )
        return False
    return True


def _target_account(build: _Build, doc: Document, kind: str) -> AccountDesired | None:
    name: str = doc.data["spec"]["account"]
    position = doc.position(("spec", "account"))
    desired = build.accounts.get(name)
    if desired is None:
        if name not in build.account_names:
            # Broken Account documents count too: their names are what the user typed.
            close = difflib.get_close_matches(name, sorted(build.account_names), n=1)
            known = ", ".join(sorted(build.account_names)) or "none"
            hint = f"did you mean '{close[0]}'?" if close else f"defined accounts: {known}"
            build.add(position, f"unknown account '{name}'", hint)
        return None
    wanted = KIND_PROVIDER[kind]
    account = desired.account
    if account.provider is not wanted:
        article = "an" if wanted.value[0] in "aeiou" else "a"
        build.add(
            position,
            f"{kind} needs {article} {wanted.value} account, but '{name}' is "
            f"{account.provider.value} (defined at {account.position})",
        )
        return None
    return desired


def _apply_resource(build: _Build, doc: Document, kind: str) -> None:
    # Entries are checked even when the document cannot be attached to its account, so that
    # one run reports the bad reference and the bad entries together.
    desired = _target_account(build, doc, kind)
    if kind == "DeliveryCheck":
        check = delivery.delivery_check(doc, build.problems)
        if desired is not None and check is not None:
            build.checks.append(check)
    else:
        BY_DOCUMENT[kind].load(build, doc, desired)


def _build(valid: list[tuple[str, Document]], build: _Build) -> None:
    # Accounts first, so that a resource may come before its account in the files.
    for kind, doc in valid:
        if kind == "Account" and _unique_name(build, doc, kind):
            account = checks.build_account(doc, build.problems)
            build.accounts[account.name] = AccountDesired(account)
    for kind, doc in valid:
        if kind == "Account":
            continue
        found = len(build.problems)
        if _unique_name(build, doc, kind):
            _apply_resource(build, doc, kind)
        elif kind in LIST_FIELDS:  # a name given twice hides none of the entries' errors
            BY_DOCUMENT[kind].check_entries(doc, build.problems)
        if kind in lockout.KINDS and any(not p.warning for p in build.problems[found:]):
            build.doubtful.add(doc.data["spec"]["account"])


def _account_name(data: Mapping[str, Any]) -> str | None:
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    return name if data.get("kind") == "Account" and isinstance(name, str) else None


def load_manifests(
    paths: Sequence[str | os.PathLike[str]], *, judge_lock_out: bool = False
) -> tuple[DesiredState, list[Problem]]:
    """Read, validate and combine the manifests under ``paths``.

    Returns the desired state and the warnings. Raises ``ManifestError`` carrying every error of
    the run — missing paths, YAML, schema and semantic errors of all files — if there is any.
    ``judge_lock_out`` (``validate``): accounts the manifests alone lock out are errors too
    (``kinds.lockout``); ``plan`` leaves that to safety rule 3, which ``--force`` overrides.
    """
    # Building is as allocation-heavy as parsing; see ``yamlpos.paused_gc``.
    with yamlpos.paused_gc():
        return _load(paths, judge_lock_out)


def _load(
    paths: Sequence[str | os.PathLike[str]], judge_lock_out: bool
) -> tuple[DesiredState, list[Problem]]:
    files, problems = _discover(paths)
    build = _Build(problems)
    valid: list[tuple[str, Document]] = []
    for file in files:
        documents, parse_problems = yamlpos.load_file(file)
        problems.extend(parse_problems)
        for doc in documents:
            account_name = _account_name(doc.data) if isinstance(doc.data, dict) else None
            if account_name is not None:
                build.account_names.add(account_name)
            readable, found = document_problems(doc)
            problems.extend(found)
            if readable is not None:
                valid.append((readable.data["kind"], readable))
                if found and readable.data["kind"] in lockout.KINDS:
                    # A misspelt prune or ignore was dropped: the list is not what was meant.
                    build.doubtful.add(readable.data["spec"]["account"])
            elif isinstance(doc.data, dict) and not doc.aliases and (listed := list_only(doc)):
                # A required key misspelt or missing: the document cannot be used, but
                # its addresses can still be checked.
                BY_DOCUMENT[listed[0]].check_entries(listed[1], build.problems)
    _build(valid, build)
    for kind in kinds():
        kind.check_state(build.accounts, build.checks, problems)
    if judge_lock_out:
        problems.extend(lockout.offline(build.accounts, build.once_at, build.doubtful))
    errors = [problem for problem in problems if not problem.warning]
    if errors:
        raise ManifestError(errors)
    warnings = [problem for problem in problems if problem.warning]
    return DesiredState(accounts=build.accounts, files=list(files), checks=build.checks), warnings
