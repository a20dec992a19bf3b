"""``completion bash|zsh|fish``: a completion script made from the argparse parser itself, so
that it knows every command, flag and choice there is, and no more."""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass, field

from reconciler.errors import ExitCode
from reconciler.output.console import Output


@dataclass
class _Option:
    flags: list[str]
    help: str
    choices: list[str] | None  # None: takes no value, or a free one (``takes``)
    takes: bool
    files: bool  # the value is a path


@dataclass
class _Command:
    name: str
    help: str
    options: list[_Option] = field(default_factory=list)
    positional_choices: list[str] = field(default_factory=list)


def run(args: argparse.Namespace, out: Output) -> int:
    # The parser that read ``args``: cli hands it over (``args.parser``).
    commands, common = _describe(args.parser)
    script = {"bash": _bash, "zsh": _zsh, "fish": _fish}[args.shell](commands, common)
    out.write(script)
    return ExitCode.OK


# -- what the parser knows ----------------------------------------------------------------


def _options(parser: argparse.ArgumentParser) -> list[_Option]:
    found = []
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        takes = action.nargs != 0
        metavar = str(action.metavar or "")
        found.append(
            _Option(
                flags=list(action.option_strings),
                help=(action.help or "").split("(default")[0].strip().replace("%%", "%"),
                choices=[str(c) for c in action.choices] if action.choices else None,
                takes=takes,
                files=takes and metavar in ("FILE", "OLD"),
            )
        )
    return found


def _describe(parser: argparse.ArgumentParser) -> tuple[list[_Command], list[_Option]]:
    commands = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                command = _Command(name, helps.get(name, ""), _options(sub))
                for positional in sub._actions:
                    if not positional.option_strings and positional.choices:
                        command.positional_choices = [str(c) for c in positional.choices]
                commands.append(command)
    return commands, _options(parser)


# -- the scripts --------------------------------------------------------------------------


def _bash(commands: list[_Command], common: list[_Option]) -> str:
    cases = []
    for command in commands:
        words = [f for o in command.options for f in o.flags] + command.positional_choices
        values = [
            f"      {'|'.join(o.flags)}) COMPREPLY=($(compgen -W {shlex.quote(' '.join(o.choices))}"
            ' -- "$cur")); return ;;'
            for o in command.options
            if o.choices
        ]
        files = [f for o in command.options if o.files for f in o.flags]
        if files:
            values.append(
                f'      {"|".join(files)}) COMPREPLY=($(compgen -f -- "$cur")); return ;;'
            )
        free = [
            f for o in command.options if o.takes and not (o.choices or o.files) for f in o.flags
        ]
        if free:
            values.append(f"      {'|'.join(free)}) COMPREPLY=(); return ;;")
        cases.append(
            f"    {command.name})\n"
            '      case "$prev" in\n'
            + "\n".join(values)
            + ("\n" if values else "")
            + "      esac\n"
            '      if [[ "$cur" == -* ]]; then '
            f'COMPREPLY=($(compgen -W {shlex.quote(" ".join(words))} -- "$cur")); '
            + (
                f"else COMPREPLY=($(compgen -W {shlex.quote(' '.join(command.positional_choices))}"
                ' -- "$cur")); fi ;;'
                if command.positional_choices
                else 'else COMPREPLY=($(compgen -f -- "$cur")); fi ;;'
            )
        )
    top = " ".join([c.name for c in commands] + [f for o in common for f in o.flags])
    return f"""# bash completion for reconciler (made by: reconciler completion bash)
_reconciler() {{
  local cur=${{COMP_WORDS[COMP_CWORD]}} prev=${{COMP_WORDS[COMP_CWORD-1]}} command="" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "${{COMP_WORDS[i]}}" in
      -*) ;;
      *) command=${{COMP_WORDS[i]}}; break ;;
    esac
  done
  case "$command" in
    "") COMPREPLY=($(compgen -W {shlex.quote(top)} -- "$cur")) ;;
{chr(10).join(cases)}
  esac
}}
complete -o filenames -F _reconciler reconciler
"""


def _zsh_quote(text: str) -> str:
    return text.replace("'", "'\\''").replace("[", "\\[").replace("]", "\\]").replace(":", "\\:")


def _zsh(commands: list[_Command], common: list[_Option]) -> str:
    described = "\n".join(f"    '{c.name}:{_zsh_quote(c.help)}'" for c in commands)
    cases = []
    for command in commands:
        specs = []
        for o in command.options:
            action = ""
            if o.choices:
                action = f":value:({' '.join(o.choices)})"
            elif o.takes:
                action = ":value:_files" if o.files else ":value:"
            # -v and --verbose: "(-v --verbose)"{-v,--verbose}"[...]", brace outside quotes
            names = (
                f"'({' '.join(o.flags)})'{{{','.join(o.flags)}}}'"
                if len(o.flags) > 1
                else f"'{o.flags[0]}"
            )
            specs.append(f"{names}[{_zsh_quote(o.help)}]{action}'")
        last = f"'1:value:({' '.join(command.positional_choices)})'"
        specs.append(last if command.positional_choices else "'*:path:_files'")
        cases.append(f"    {command.name}) _arguments {' '.join(specs)} ;;")
    return f"""#compdef reconciler
# zsh completion for reconciler (made by: reconciler completion zsh)
_reconciler() {{
  local -a commands
  commands=(
{described}
  )
  if (( CURRENT == 2 )); then
    _describe 'command' commands
    return
  fi
  shift words
  (( CURRENT-- ))
  case $words[1] in
{chr(10).join(cases)}
  esac
}}
compdef _reconciler reconciler
"""


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish(commands: list[_Command], common: list[_Option]) -> str:
    names = " ".join(c.name for c in commands)
    lines = [
        "# fish completion for reconciler (made by: reconciler completion fish)",
        "complete -c reconciler -f",
    ]
    for command in commands:
        lines.append(
            f"complete -c reconciler -n 'not __fish_seen_subcommand_from {names}' "
            f"-a {command.name} -d {_fish_quote(command.help)}"
        )
    for command in commands:
        when = f"-n '__fish_seen_subcommand_from {command.name}'"
        if command.positional_choices:
            choices = " ".join(command.positional_choices)
            lines.append(f"complete -c reconciler {when} -a {_fish_quote(choices)}")
        else:
            lines.append(f"complete -c reconciler {when} -F")
        for o in command.options:
            flags = " ".join(
                f"-l {f[2:]}" if f.startswith("--") else f"-s {f[1:]}" for f in o.flags
            )
            value = ""
            if o.choices:
                value = f" -x -a {_fish_quote(' '.join(o.choices))}"
            elif o.takes:
                value = " -r -F" if o.files else " -x"
            lines.append(f"complete -c reconciler {when} {flags}{value} -d {_fish_quote(o.help)}")
    return "\n".join(lines) + "\n"
