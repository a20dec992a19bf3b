"""Every install line in the docs and examples installs this project, never a namesake.

``reconciler`` on PyPI is somebody else's project (a pandas utility), and CI jobs install
before they run with live credentials in their environment: a bare ``pip install reconciler``
runs a stranger's code beside them. So each ``pip install`` (or ``pip wheel`` / ``pip
download``) line in README.md, CONTRIBUTING.md, examples/, .github/ and the Dockerfile must name
a path, a URL that carries our distribution's name, our distribution (pinned, if at all, to our
version), or a known dependency or tool.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from reconciler import __version__
from tests.cli_helpers import REPO

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
OURS = canonicalize_name(PYPROJECT["project"]["name"])
NAMESAKE = "reconciler"  # PyPI's "reconciler": another project

# Tools the docs install beside the project (build, publish, coverage, hooks).
TOOLS = {"pip", "build", "twine", "setuptools", "wheel", "pre-commit", "coverage", "pytest-cov"}


def _dependencies() -> set[str]:
    """Every name pyproject.toml depends on: runtime, extras, the build system."""
    project = PYPROJECT["project"]
    lines = [*project["dependencies"], *PYPROJECT["build-system"]["requires"]]
    for extra in project["optional-dependencies"].values():
        lines += extra
    return {canonicalize_name(Requirement(line).name) for line in lines}


KNOWN = (_dependencies() | {canonicalize_name(t) for t in TOOLS}) - {OURS}

_COMMAND = re.compile(r"\b(?:pip3?|pipx)\s+(?:install|wheel|download)\b")
# Options of pip install / wheel / download that take a value (the value is not a requirement).
_VALUED = {
    "-c", "--constraint", "-i", "--index-url", "--extra-index-url", "-f", "--find-links",
    "-t", "--target", "--prefix", "--root", "-w", "--wheel-dir", "-d", "--dest",
    "--upgrade-strategy", "--platform", "--python-version", "--implementation", "--abi",
    "--progress-bar", "--cache-dir", "--log", "--src", "--report", "--config-settings",
    "-C", "--global-option", "--no-binary", "--only-binary", "--trusted-host", "--proxy",
    "--timeout", "--retries", "--exists-action", "--python",
}  # fmt: skip
_ENDS = {"&&", "||", ";", "|", "&", ">", ">>", "<", "(", ")"}
_DOCS = ("README.md", "CONTRIBUTING.md", "Dockerfile")
_TREES = ("examples", ".github")


def files() -> list[Path]:
    trees = [p for tree in _TREES for p in sorted((REPO / tree).rglob("*")) if p.is_file()]
    return [*(REPO / name for name in _DOCS), *trees]


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Lines with shell continuations (a trailing backslash) joined, each with its number."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        start, line = i + 1, lines[i]
        while line.endswith("\\") and i + 1 < len(lines):
            i += 1
            line = line[:-1] + " " + lines[i]
        yield start, line
        i += 1


def _expand(word: str, text: str, depth: int = 0) -> str:
    """``${VAR:-default}`` becomes its default; ``$var`` its assignment in the same file."""
    word = re.sub(r"\$\{\w+:-([^}]*)\}", lambda m: m.group(1), word)
    bare = re.fullmatch(r"\$\{?(\w+)\}?", word)
    if bare and depth < 3:
        assigned = re.search(rf"^\s*{bare.group(1)}=(.+)$", text, re.MULTILINE)
        if assigned:
            (value,) = shlex.split(assigned.group(1))
            return _expand(value, text, depth + 1)
    return word


def requirements(text: str) -> Iterator[tuple[int, str]]:
    """Each requirement a pip install / wheel / download line names, with its line number."""
    for number, line in _logical_lines(text):
        for match in _COMMAND.finditer(line):
            rest = line[match.end() :].split("`")[0]  # Markdown: the code span ends there
            lexer = shlex.shlex(rest, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            try:
                words = list(lexer)
            except ValueError:  # an unbalanced quote in prose: read it plainly
                words = rest.split()
            skip = False
            for word in words:
                if word in _ENDS or word.startswith("#"):
                    break
                if skip:
                    skip = False
                elif word in ("-r", "--requirement"):
                    raise AssertionError(f"line {number}: requirement files are not read: {line}")
                elif word in ("-e", "--editable"):
                    continue  # its value is a requirement like any other
                elif word in _VALUED:
                    skip = True
                elif not word.startswith("-"):
                    yield number, _expand(word, text)


def problem(requirement: str) -> str | None:
    """Why ``requirement`` might install another project than ours (None: it cannot)."""
    if re.fullmatch(r"\$\{?\w+\}?", requirement):
        return "a variable whose value is not assigned in the same file"
    if requirement.startswith((".", "/", "~", "$")) or requirement.endswith((".whl", ".tar.gz")):
        return None  # a path (ours: the checkout, a built wheel, the action's own repository)
    if "://" in requirement and "@" not in requirement.split("://")[0]:
        egg = re.search(r"#egg=([\w.-]+)", requirement)
        if egg and canonicalize_name(egg.group(1)) == OURS:
            return None
        return "a URL that does not name our distribution (use 'NAME @ URL' or #egg=NAME)"
    try:
        parsed = Requirement(requirement)
    except InvalidRequirement as exc:
        return f"not a requirement pip reads as ours: {exc}"
    name = canonicalize_name(parsed.name)
    if name == OURS:
        pins = [s.version for s in parsed.specifier if s.operator in ("==", "===")]
        if pins and pins != [__version__]:
            return f"pins {pins[0]}, but this is {__version__}"
        return None
    if name in KNOWN:
        return None
    return f"{parsed.name!r} is not our distribution ({OURS}) nor a known dependency or tool"


def test_every_install_line_in_docs_and_examples_installs_this_project() -> None:
    found: list[str] = []
    problems: list[str] = []
    for path in files():
        text = path.read_text(encoding="utf-8")
        for number, requirement in requirements(text):
            where = f"{path.relative_to(REPO)}:{number}: {requirement}"
            found.append(where)
            why = problem(requirement)
            if why:
                problems.append(f"{where}: {why}")
    assert not problems, "\n".join(problems)
    # The scan reads what it must: the quick start, the GitLab job, the action, the image.
    read = "\n".join(found)
    for expected in (
        "README.md:",
        "examples/gitlab/.gitlab-ci.yml:",
        ".github/actions/reconciler/action.yml:",
        "Dockerfile:",
        f"{OURS}=={__version__}",
    ):
        assert expected in read, (expected, read)


def test_the_distribution_is_not_the_namesake_and_the_command_keeps_its_name() -> None:
    assert canonicalize_name(NAMESAKE) != OURS
    assert PYPROJECT["project"]["scripts"] == {"reconciler": "reconciler.cli:main"}
    # Extras that name the project itself name it by its distribution name, or pip would
    # fetch the namesake to satisfy `.[dev]`.
    for extra in PYPROJECT["project"]["optional-dependencies"].values():
        for line in extra:
            assert canonicalize_name(Requirement(line).name) != canonicalize_name(NAMESAKE)


@pytest.mark.parametrize(
    ("line", "flagged"),
    [
        ("pip install reconciler", True),
        ("- run: pip install 'reconciler==0.2.2'", True),
        ('pip install --quiet "${RECONCILER_INSTALL:-reconciler}"', True),
        ("pip install -q -U reconciler[dev]", True),
        ("pip install git+https://example.test/someone/reconciler", True),
        (f"pip install '{OURS}==0.0.1'", True),
        ("pip install requestz && reconciler --version", True),
        ("pipx install reconciler", True),
        ("uv pip install reconciler", True),
        ('pip install "$PACKAGE"', True),
        ('pip install "$GITHUB_ACTION_PATH/../../.."', False),
        (f"pip install --quiet '{OURS}=={__version__}'", False),
        (f'pip install "${{RECONCILER_INSTALL:-{OURS}}}"', False),
        (f"pip install 'git+https://example.test/o/r@v1#egg={OURS}'", False),
        (f"pip install '{OURS} @ git+https://example.test/o/r@v1'", False),
        ("pip install -e '.[dev]' && reconciler plan", False),
        ("pip install --upgrade pip \\\n && pip install /wheels/*.whl", False),
        ("pip install -q build twine && python -m build", False),
        ("python -m pip install -q --index-url https://pypi.test/simple requests", False),
        ("`pip install .` installs it", False),
    ],
)
def test_the_scan_flags_a_namesake(line: str, flagged: bool) -> None:
    names = [requirement for _, requirement in requirements(line)]
    assert names
    assert any(problem(name) for name in names) is flagged, names


def test_a_variable_is_read_from_its_assignment() -> None:
    text = 'source="${X:-reconciler}"\npython3 -m pip install --quiet "$source"\n'
    assert list(requirements(text)) == [(2, "reconciler")]
