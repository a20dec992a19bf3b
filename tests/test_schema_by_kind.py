"""The manifest validator narrowed to one document's kind (``jsonschemas.manifest_validator``)
finds exactly the errors of the whole schema, only faster: loading and the early read's check of
each Account document use it."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.jsonschemas import manifest_validator, validation_schema, validator
from tests.cli_helpers import EXAMPLES

KINDS = tuple(validation_schema()["properties"]["kind"]["enum"])


def _examples() -> list[dict[str, Any]]:
    documents = []
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(document, dict) and "kind" in document:
                documents.append(document)
    return documents


EXAMPLE_DOCUMENTS = _examples()


def _errors(checker: Any, data: Any) -> list[tuple[Any, ...]]:
    return sorted(
        (
            tuple(map(str, error.absolute_path)),
            error.message,
            error.validator,
            repr(error.validator_value),
        )
        for error in checker.iter_errors(data)
    )


def _same_errors(data: Any) -> None:
    kind = data.get("kind") if isinstance(data, dict) else None
    assert _errors(manifest_validator(kind), data) == _errors(validator("manifest"), data)


def test_each_kind_tries_only_its_own_branch() -> None:
    whole = len(validation_schema()["allOf"])
    assert whole == len(KINDS)
    for kind in KINDS:
        assert len(manifest_validator(kind).schema["allOf"]) == 1
    assert len(manifest_validator("Nothing").schema["allOf"]) == 0
    assert manifest_validator(["Account"]) is validator("manifest")
    assert manifest_validator(None) is validator("manifest")


def test_the_examples_have_every_kind() -> None:
    assert {document["kind"] for document in EXAMPLE_DOCUMENTS} >= {"Account", "IpWhitelist"}


def _variants(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield document
    for kind in (*KINDS, "account", "Unknown", 3, None, ["Account"]):
        yield {**document, "kind": kind}
    broken = copy.deepcopy(document)
    broken["spec"] = {**broken.get("spec", {}), "typo": 1}
    yield broken
    yield {key: value for key, value in document.items() if key != "kind"}
    yield {**document, "spec": []}


def test_narrowed_and_whole_schema_agree_on_the_examples_and_their_variants() -> None:
    for document in EXAMPLE_DOCUMENTS:
        for variant in _variants(document):
            _same_errors(variant)


_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 70000) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(EXAMPLE_DOCUMENTS),
    st.sampled_from((*KINDS, "Other", 1, None)),
    st.sampled_from(("spec", "metadata", "extra", "apiVersion")),
    st.text(max_size=12),
    _VALUES,
)
def test_narrowed_and_whole_schema_agree_on_any_change(
    document: dict[str, Any], kind: Any, where: str, key: str, value: Any
) -> None:
    changed = copy.deepcopy(document)
    changed["kind"] = kind
    if isinstance(changed.get(where), dict):
        changed[where][key] = value
    else:
        changed[where] = value
    _same_errors(changed)
