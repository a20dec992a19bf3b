"""The checks of one document on its own, which loading makes of every document and the early
read (``reconciler.prefetch``) makes of each ``Account`` document before it may contact it.

One function for both, so that an account is never contacted on the strength of fewer checks
than ``validate`` makes of its document.
"""

from __future__ import annotations

from reconciler.document import Document
from reconciler.errors import Problem
from reconciler.manifests import checks
from reconciler.manifests.readable import without_unknown_keys
from reconciler.manifests.schema_errors import (
    describe_type,
    schema_problems,
    yaml11_boolean_problems,
)
from reconciler.model import Account


def document_problems(doc: Document) -> tuple[Document | None, list[Problem]]:
    """What is wrong with ``doc`` as a manifest document (its shape, the schema, YAML 1.1
    booleans), and the document to check further: ``doc`` itself, ``doc`` without its
    misspelt keys, or None when nothing more can be checked (not a mapping, an alias)."""
    if not isinstance(doc.data, dict):
        message = (
            "a manifest document must be a mapping with apiVersion, kind, metadata and "
            f"spec, not {describe_type(doc.data)}"
        )
        return None, [Problem(doc.position(), message)]
    found = schema_problems(doc)
    problems = found + yaml11_boolean_problems(doc, found)
    # A document with an alias has a hole where the alias stood; it was reported.
    if doc.aliases:
        return None, problems
    # Misspelt keys aside, the document may be readable: check its addresses and references
    # too, so that one run lists every error.
    return (doc if not found else without_unknown_keys(doc)), problems


def checked_account(doc: Document) -> Account | None:
    """The account an ``Account`` document defines, if the document passes every check
    ``validate`` makes of it on its own: the schema (credential references, limits, retry)
    and the meaning (endpoint scheme and host, region, credential sources). None if any of
    them fails, or if ``doc`` is not an Account document."""
    readable, problems = document_problems(doc)
    if readable is not None and readable.data.get("kind") == "Account":
        account = checks.build_account(readable, problems)
        if not any(not problem.warning for problem in problems):
            return account
    return None
