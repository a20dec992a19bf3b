"""Whether a saved plan was made from the manifests at hand (``apply --plan FILE PATH...``).

A saved plan records the SHA-256 of every manifest file it was made from (``manifests``). CI
checks out the merged commit and fetches a plan made elsewhere (a merge request's pipeline,
a pull request's run): given the manifest PATHs, apply compares the files found there, as
``plan`` finds them, with that record, so that a plan is only applied to the commit it
describes. Paths are compared as written, normalized (``manifests/a.yaml`` and
``./manifests//a.yaml`` are one file): make the plan and apply it from the same directory.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence

from reconciler import files
from reconciler.errors import InputError
from reconciler.manifests.load import discover
from reconciler.savedplan import verdict

SHOWN = 10  # file names per kind of difference in the message


def file_digest(path: str) -> str:
    """``sha256:...`` of the file's bytes, as ``plan --out`` records it; read with bounds."""
    data = files.read_bytes(path, files.MANIFEST_LIMIT, "manifest")
    return "sha256:" + hashlib.sha256(data).hexdigest()


def differences(recorded: Mapping[str, str], paths: Sequence[str]) -> list[str]:
    """How the manifest files under ``paths`` differ from ``recorded`` (path -> digest): one
    line per kind of difference, each naming its files; none: they are the same files."""
    found, problems = discover(paths)
    if problems:
        raise InputError("; ".join(problem.message for problem in problems))
    now = {os.path.normpath(path): path for path in found}
    was = {os.path.normpath(path): digest for path, digest in recorded.items()}
    changed = [now[p] for p in sorted(now.keys() & was.keys()) if file_digest(now[p]) != was[p]]
    missing = sorted(was.keys() - now.keys())
    extra = [now[p] for p in sorted(now.keys() - was.keys())]
    lines = []
    for what, names in (
        ("differ from the plan's", changed),
        ("missing (the plan was made from them)", missing),
        ("extra (not in the plan)", extra),
    ):
        if names:
            more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
            lines.append(f"{what}: {', '.join(names[:SHOWN])}{more}")
    return lines


def check(recorded: Mapping[str, str] | None, paths: Sequence[str], name: str) -> None:
    """Refuse (``plan-manifests``, exit 4) a plan not made from the manifests at ``paths``."""
    if not recorded:
        raise verdict.PlanRefused(
            verdict.MANIFESTS,
            f"saved plan {name} records no manifest files, so it cannot be checked against "
            f"{' '.join(paths)}: nothing was read or applied",
        )
    lines = differences(recorded, paths)
    if lines:
        raise verdict.PlanRefused(
            verdict.MANIFESTS,
            f"saved plan {name} was not made from the manifests at {' '.join(paths)}:\n  "
            + "\n  ".join(lines)
            + "\nnothing was read or applied; apply the plan to the commit it was made from, "
            "or make a new plan of these manifests with plan --out and review it",
        )
