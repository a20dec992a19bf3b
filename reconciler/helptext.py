"""The examples that end each command's ``--help``: real commands, runnable as shown (those with
``--sandbox`` against the embedded sandbox, from a checkout with ``examples/``)."""

from __future__ import annotations

EXAMPLES = {
    "validate": [
        ("check every manifest under a directory", "reconciler validate manifests/"),
        ("annotations in a GitHub workflow", "reconciler validate manifests/ --format github"),
    ],
    "plan": [
        ("try it on the sandbox", "reconciler plan examples/ --sandbox"),
        (
            "save a plan for review, addresses masked",
            "reconciler plan manifests/ --out plan.json --redact",
        ),
        (
            "one account, exit 2 on changes",
            "reconciler plan manifests/ --account prod-sc --detailed-exitcode",
        ),
    ],
    "apply": [
        (
            "carry out a reviewed plan, if made from these manifests",
            "reconciler apply --plan plan.json manifests/ --yes",
        ),
        ("plan and apply on the sandbox", "reconciler apply examples/ --sandbox"),
        (
            "tell the team in DingTalk",
            "RECONCILER_WEBHOOK_URL=... reconciler apply plan.json --yes --notify dingtalk",
        ),
    ],
    "export": [
        ("write live state as manifests", "reconciler export manifests/ --out live.yaml"),
        ("try it on the sandbox", "reconciler export examples/ --sandbox"),
    ],
    "dns": [
        ("the records for octoDNS", "reconciler dns manifests/ --format octodns"),
        ("zone-file lines, on the sandbox", "reconciler dns examples/ --sandbox"),
    ],
    "show": [
        ("read a saved plan", "reconciler show plan.json"),
        ("as a pull-request comment", "reconciler show plan.json --format markdown --redact"),
    ],
    "accounts": [
        ("one line per account", "reconciler accounts manifests/"),
        ("a CI matrix", "reconciler accounts manifests/ --format json"),
    ],
    "completion": [
        ("bash, for this shell", 'eval "$(reconciler completion bash)"'),
        ("fish", "reconciler completion fish > ~/.config/fish/completions/reconciler.fish"),
        ("zsh", "reconciler completion zsh > ~/.zfunc/_reconciler"),
    ],
    "sandbox": [
        ("serve it on the default port", "reconciler sandbox"),
        ("with throttling", "reconciler sandbox --error-rate 0.2 --faults throttling --seed 1"),
    ],
}


def examples(command: str) -> str:
    """The ``examples:`` block of ``command``'s help ("" if it has none)."""
    lines = ["examples:"]
    for what, line in EXAMPLES.get(command, []):
        lines += [f"  # {what}", f"  {line}"]
    return "\n".join(lines) if len(lines) > 1 else ""
