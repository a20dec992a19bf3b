"""``--redact``: e-mail addresses masked in what is shown, complete in the saved plan."""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

from reconciler.output import markdown_text, redact
from tests.cli_helpers import EXAMPLES, run_cli

# The unintercept e-mail entries the example manifests and the demo sandbox state plan.
ADDRESSES = ("Support@Example.com", "vip@example.com", "old-list@example.org")
_RAW = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")


def _unmasked(text: str) -> list[str]:
    """Addresses in ``text`` that are not in the masked form."""
    return [a for a in _RAW.findall(text) if not re.search(r"\*\*@", a)]


def test_mask_is_stable_distinguishable_and_case_insensitive() -> None:
    assert redact.mask("victor@example.com") == redact.mask("victor@example.com")
    assert redact.mask("victor@example.com").startswith("v**@example.com#")
    assert redact.mask("Victor@Example.com")[-6:] == redact.mask("victor@example.com")[-6:]
    assert redact.mask("vera@example.com") != redact.mask("victor@example.com")


def test_text_masks_only_when_on_and_never_twice() -> None:
    line = "entries ann@example.com and bob.b@sub.example.org differ"
    assert redact.text(line) == line
    with redact.redacting():
        masked = redact.text(line)
        assert "ann@" not in masked and "bob.b@" not in masked
        assert redact.mask("ann@example.com") in masked
        assert redact.text(masked) == masked
    assert redact.text(line) == line  # switched off again at the end of the block


def test_markdown_escaping_keeps_the_same_mask() -> None:
    with redact.redacting():
        escaped = markdown_text.text("first_last@example.com")
        assert redact.mask("first_last@example.com").split("#")[1] in escaped
        assert "first" not in escaped
        # A masked address escaped for Markdown is not masked again by the output net.
        assert redact.text(escaped) == escaped


def test_plan_text_redacts_and_saved_plan_stays_complete(tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    result = run_cli(
        "plan", str(EXAMPLES), "--sandbox", "--redact", "--out", str(saved), cwd=tmp_path
    )
    assert result.code == 0, result
    assert _unmasked(result.out + result.err) == []
    for address in ADDRESSES:
        assert redact.mask(address) in result.out
    document = saved.read_text(encoding="utf-8")
    for address in ADDRESSES:
        assert address in document
    assert "**@" not in document


def test_without_redact_addresses_are_shown(tmp_path: Path) -> None:
    result = run_cli("plan", str(EXAMPLES), "--sandbox", cwd=tmp_path)
    assert result.code == 0, result
    for address in ADDRESSES:
        assert address in result.out


def test_markdown_and_json_redact(tmp_path: Path) -> None:
    for fmt in ("markdown", "json"):
        result = run_cli(
            "plan", str(EXAMPLES), "--sandbox", "--redact", "--format", fmt, cwd=tmp_path
        )
        assert result.code == 0, result
        assert _unmasked(result.out) == [], fmt
        assert redact.mask("vip@example.com") in result.out
    assert json.loads(result.out)["summary"]


def test_apply_report_redacts(tmp_path: Path) -> None:
    result = run_cli("apply", str(EXAMPLES), "--sandbox", "--redact", "--yes", "-v", cwd=tmp_path)
    assert result.code == 0, result
    assert "applied" in result.out
    assert _unmasked(result.out + result.err) == []


def test_messages_redact(tmp_path: Path) -> None:
    """A manifest error quoting an address is masked too."""
    manifests = tmp_path / "m"
    shutil.copytree(EXAMPLES, manifests)
    vip = manifests / "sendcloud" / "unintercept-all.yaml"
    vip.write_text(vip.read_text() + "    - email: CEO@example.com\n")  # a duplicate
    result = run_cli("plan", str(manifests), "--sandbox", "--redact", cwd=tmp_path)
    assert result.code == 3, result
    assert "ceo" not in result.err


def test_log_filter_masks_records_while_on() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "to %s", ("ann@example.com",), None)
    with redact.redacting():
        assert redact.LogFilter().filter(record)
    assert record.getMessage() == f"to {redact.mask('ann@example.com')}"
