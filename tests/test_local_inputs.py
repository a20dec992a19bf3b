"""Local inputs are untrusted (SPEC §2, §6): non-finite numbers, over-long addresses, special
and oversized files, and ``--out`` targets."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.addresses import canonical_email
from tests.cli_helpers import accounts_yaml, run_cli, write

UNINTERCEPTS = (
    "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {{name: u}}\n"
    "spec:\n  account: sc\n{extra}  entries:\n    - email: {email}\n"
)


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("threshold", ".nan"),
        ("threshold", ".inf"),
        ("threshold", "-.inf"),
        ("limits", ".inf"),
        ("limits", ".nan"),
    ],
)
def test_non_finite_numbers_are_errors(tmp_path: Path, where: str, value: str) -> None:
    accounts = accounts_yaml("http://127.0.0.1:9")
    extra = ""
    if where == "threshold":
        extra = f"  deletionThreshold: {{percent: {value}}}\n"
    else:
        accounts = accounts.replace("requestsPerSecond: 1000", f"requestsPerSecond: {value}")
    write(tmp_path / "m" / "accounts.yaml", accounts)
    write(tmp_path / "m" / "u.yaml", UNINTERCEPTS.format(extra=extra, email="a@example.com"))
    result = run_cli("validate", "m", cwd=tmp_path)
    assert result.code == 3, result
    assert "got a non-finite number" in result.err
    assert "Traceback" not in result.err


def test_an_email_longer_than_254_characters_is_an_error(tmp_path: Path) -> None:
    long = "a" * 64 + "@" + ".".join(["b" * 60] * 3) + ".example.com"
    assert len(long) > 254
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml("http://127.0.0.1:9"))
    write(tmp_path / "m" / "u.yaml", UNINTERCEPTS.format(extra="", email=long))
    result = run_cli("validate", "m", cwd=tmp_path)
    assert result.code == 3, result
    assert f"m/u.yaml:7:14: error: email has {len(long)} characters; at most 254" in result.err
    with pytest.raises(ValueError, match="at most 254"):
        canonical_email(long)
