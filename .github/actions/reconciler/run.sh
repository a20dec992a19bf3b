#!/usr/bin/env bash
# Runs reconciler for the composite action (action.yml) and hands its results to the workflow.
#
# Reads (all optional but the first):
#   RECONCILER_COMMAND    plan | apply | drift | check (the DeliveryCheck documents)
#   RECONCILER_PATHS      manifest files or directories, separated by white space
#   RECONCILER_ACCOUNTS   account names, separated by white space (each becomes --account)
#   RECONCILER_PLAN_FILE  plan: where to save the plan; apply: the reviewed plan to carry out
#                         (it must exist: a missing file is exit 3 and nothing is applied;
#                         when empty, apply plans again from the paths), and only to the
#                         manifests at the paths: apply --plan FILE PATH...
#   RECONCILER_ON_STALE   apply with a plan file: "stop" (default) or "replan": when the
#                         reviewed plan is stale or was not made from the manifests at the
#                         paths, plan the paths again and apply that plan only if its changes
#                         and accounts are exactly the reviewed plan's
#   RECONCILER_ARGS       more arguments for the command, separated by white space
#   RECONCILER_SANDBOX    "true": use the embedded sandbox (demos, tests)
#   RECONCILER_REDACT     "false": show e-mail addresses in full in the comment and the summary
#                         (default "true": masked, --redact; the plan file stays complete)
#   RECONCILER_FAIL       "false": always exit 0 and let the caller judge the exitcode output
#   RUNNER_TEMP, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY   as GitHub Actions sets them
#
# Writes to $GITHUB_OUTPUT: exitcode, outcome, plan-file, markdown-file, has-changes; appends the
# Markdown to $GITHUB_STEP_SUMMARY. Exits non-zero when reconciler failed (1), got invalid
# input (3) or refused (4), in drift mode when the plan has changes (2), and in check mode when
# a delivery check failed (2).
set -euo pipefail
set -f # paths and arguments are words, never glob patterns

command=${RECONCILER_COMMAND:-plan}
case "$command" in
  plan | apply | drift | check) ;;
  *)
    echo "::error::reconciler action: command must be plan, apply, drift or check, not '$command'" >&2
    exit 3
    ;;
esac

workdir=${RUNNER_TEMP:-${TMPDIR:-/tmp}}/reconciler-action
mkdir -p "$workdir"
plan_file=${RECONCILER_PLAN_FILE:-}
if [ "$command" != apply ] && [ "$command" != check ] && [ -z "$plan_file" ]; then
  plan_file=$workdir/plan.json
fi
markdown_file=$workdir/$command.md

# shellcheck disable=SC2206 # word splitting is the point: these inputs are lists of words
paths=(${RECONCILER_PATHS:-})
# shellcheck disable=SC2206
extra=(${RECONCILER_ARGS:-})
selection=()
for account in ${RECONCILER_ACCOUNTS:-}; do
  selection+=(--account "$account")
done
sandbox=()
if [ "${RECONCILER_SANDBOX:-false}" = true ]; then
  sandbox=(--sandbox)
fi
# What reaches the comment, the step summary and the log masks e-mail addresses.
if [ "${RECONCILER_REDACT:-true}" != false ]; then
  extra=(--redact "${extra[@]}")
fi

on_stale=${RECONCILER_ON_STALE:-stop}
case "$on_stale" in
  stop | replan) ;;
  *)
    echo "::error::reconciler action: on-stale must be stop or replan, not '$on_stale'" >&2
    exit 3
    ;;
esac

outcome=""
if [ "$command" = apply ] && [ -n "$plan_file" ] && [ ! -f "$plan_file" ]; then
  # A reviewed plan that is not there (a typo, a missing artifact) never turns into an
  # unreviewed apply of the manifests.
  echo "::error::reconciler action: the plan file '$plan_file' does not exist; nothing was applied" >&2
  exit 3
fi
if [ "$command" != apply ] || [ -z "$plan_file" ] || [ "$on_stale" = replan ]; then
  if [ "${#paths[@]}" -eq 0 ]; then
    echo "::error::reconciler action: no manifest paths given (input 'paths')" >&2
    exit 3
  fi
fi

# What became of an apply, from its exit code and the refusal rules of its JSON report
# (schemas/report.schema.json: the rule apply --plan names when it refuses a saved plan; never
# the wording of a message): applied, stale (live state moved since the review), mismatch (the
# plan was not made from the manifests at the paths), expired, unsigned (a MAC that cannot be
# checked, or none where one is required), sandbox (made with the sandbox, applied without, or
# the other way round), unsupported (a plan format this release does not read), tampered (the
# plan file fails verification), refused (a safety rule, incomplete live state), invalid or
# failed. The second argument is the JSON report (/dev/null when there is none).
classify() {
  case "$1" in
    0) echo applied ;;
    5) echo rolled-back ;;
    6) echo rollback-incomplete ;;
    3 | 4)
      python3 - "$1" "$2" <<'PY'
import json, sys

OUTCOMES = {
    "plan-stale": "stale",
    "plan-manifests": "mismatch",
    "plan-expired": "expired",
    "plan-unsigned": "unsigned",
    "plan-mac-unchecked": "unsigned",
    "plan-sandbox": "sandbox",
    "plan-format-version": "unsupported",
    "plan-digest": "tampered",
    "plan-mac": "tampered",
    "plan-inconsistent": "tampered",
    "plan-invalid": "tampered",
}
try:
    with open(sys.argv[2], encoding="utf-8") as file:
        rules = [refusal["rule"] for refusal in json.load(file)["plan"]["refusals"]]
except (OSError, ValueError, KeyError, TypeError):
    rules = []  # no report: the command failed before it could write one
known = [OUTCOMES[rule] for rule in rules if rule in OUTCOMES]
if known:
    print(known[-1])  # the saved plan's own refusal comes last
else:
    print("refused" if sys.argv[1] == "4" else "invalid")
PY
      ;;
    *) echo failed ;;
  esac
}

# The apply report (JSON) for the log and the step summary: one line per change and the totals.
report_text() {
  python3 - "$1" <<'PY'
import json, sys

try:
    with open(sys.argv[1], encoding="utf-8") as file:
        report = json.load(file)
    outcomes, summary = report["outcomes"], report["summary"]
except (OSError, ValueError, KeyError, TypeError):
    sys.exit(0)  # no report: the error output says why
if report["plan"]["refusals"] and not outcomes:
    sys.exit(0)  # refused: the error output says why, and nothing was applied
account = None
for outcome in outcomes:
    if outcome["account"] != account:
        account = outcome["account"]
        print(account)
    detail = f"  {outcome['detail']}" if outcome.get("detail") else ""
    print(
        f"  {outcome['status']:<8} {outcome['action']:<6} {outcome['resource']:<13} "
        f"{outcome['key']}{detail}"
    )
untried = summary.get("not attempted")
print(
    f"\nApply: {summary['applied']} applied, {summary['failed']} failed, "
    f"{summary['skipped']} skipped" + (f", {untried} not attempted." if untried else ".")
)
# The guards watched after the writes (SPEC section 11), and each roll-back.
for guard in report.get("guards", []):
    measured = guard.get("measured") or {}
    figures = (
        f": {measured['requests']} messages, {measured['failed_percent']}% failed, "
        f"{measured['invalid_percent']}% invalid"
        if measured
        else ""
    )
    reasons = "; ".join(guard.get("reasons", []))
    print(
        f"Guard {guard['name']} ({guard['account']}, watch {guard['watch']}): "
        f"{guard['status']}{figures}" + (f" ({reasons})" if reasons else "")
    )
    rollback = guard.get("rollback_result")
    if rollback:
        print(f"  roll-back: {rollback['status']}")
        for undone in rollback["undone"]:
            print(f"    {undone['status']:<8} {undone['action']:<6} {undone['resource']:<13} {undone['key']}")
        for left in rollback["left"]:
            print(f"    LEFT     {left['action']:<6} {left['resource']:<13} {left['key']}")
PY
}

# apply --plan, its JSON report in $2 and its errors shown; sets code and outcome.
apply_saved() {
  reconciler apply --plan "$1" "${paths[@]}" "${sandbox[@]}" --yes --no-color --format json \
    "${extra[@]}" >"$2"
  code=$?
  outcome=$(classify "$code" "$2")
}

# on-stale: replan. The manifests are planned again and that plan is applied only when its
# changes are exactly the reviewed ones, on the same accounts (provider, endpoint, region,
# credential references), so nothing unreviewed is ever written, nor written elsewhere.
replan_and_apply() {
  local fresh=$workdir/fresh-plan.json
  echo "The reviewed plan is $outcome; planning the manifests again (on-stale: replan)"
  reconciler plan "${paths[@]}" "${selection[@]}" "${sandbox[@]}" --format json \
    --out "$fresh" --no-color "${extra[@]}" >/dev/null
  code=$?
  if [ "$code" -ne 0 ]; then
    outcome=$(classify "$code" /dev/null)
    return
  fi
  if ! python3 - "$plan_file" "$fresh" <<'PY'; then
import json, sys

reviewed, fresh = (json.load(open(p, encoding="utf-8")) for p in sys.argv[1:3])
# Everything that says where a change goes and with which credentials; not limits or retry.
PACE = ("limits", "retry")


def accounts(plan):
    return {
        a["name"]: {k: v for k, v in a.items() if k not in PACE} for a in plan["accounts"]
    }


problems = []
if reviewed["changes"] != fresh["changes"]:
    problems.append("its changes differ from the reviewed plan's")
was, now = accounts(reviewed), accounts(fresh)
for name in sorted(was.keys() | now.keys()):
    if name not in now:
        problems.append(f"account {name} of the reviewed plan is not in it")
    elif name not in was:
        problems.append(f"account {name} is not in the reviewed plan")
    else:
        for key in sorted(was[name].keys() | now[name].keys()):
            old, new = (json.dumps(a.get(key), sort_keys=True) for a in (was[name], now[name]))
            if old != new:
                problems.append(f"account {name}: {key} {old} in the reviewed plan, {new} now")
for problem in problems:
    print(f"The fresh plan differs: {problem}", file=sys.stderr)
sys.exit(1 if problems else 0)
PY
    echo "The fresh plan is not the reviewed plan; nothing was applied" >&2
    code=4
    outcome=changed
    return
  fi
  echo "The fresh plan's changes are exactly the reviewed ones, on the same accounts; applying it"
  plan_file=$fresh
  apply_saved "$fresh" "$report_json"
}

# Why a reviewed plan was not applied, and how to get one that can be.
explain() {
  local again="open a pull request (or re-run the plan workflow on one) so that a new plan is made and reviewed, then merge it"
  case "$1" in
    stale) echo "::error::reconciler apply: the reviewed plan is stale: live state changed since it was reviewed, so nothing was applied. To apply, $again (or set on-stale: replan to apply main when its plan has exactly the reviewed changes)." >&2 ;;
    mismatch) echo "::error::reconciler apply: the reviewed plan was not made from the manifests of this commit (the files named above differ), so nothing was applied. Require branches to be up to date before merging; to apply, $again (or set on-stale: replan to apply main when its plan has exactly the reviewed changes)." >&2 ;;
    changed) echo "::error::reconciler apply: the reviewed plan cannot be applied and the manifests on main plan different changes, or the same changes on different accounts (endpoint, region, credentials), than were reviewed, so nothing was applied. To apply, $again." >&2 ;;
    expired) echo "::error::reconciler apply: the reviewed plan is older than its --max-age (7 days unless args say otherwise) or dated in the future, so nothing was applied. To apply, $again." >&2 ;;
    unsigned) echo "::error::reconciler apply: the reviewed plan's MAC could not be checked (RECONCILER_PLAN_KEY is set for plan but not for apply, or the other way round; the error above says which), so nothing was applied. Give both workflows the same RECONCILER_PLAN_KEY secret; then, to apply, $again." >&2 ;;
    sandbox) echo "::error::reconciler apply: the reviewed plan was made against the sandbox and applied without it, or the other way round, so nothing was applied. Give plan and apply the same sandbox input." >&2 ;;
    unsupported) echo "::error::reconciler apply: the reviewed plan was made by a reconciler whose plan format this one does not read, so nothing was applied. Install the same reconciler for plan and apply (input install); then, to apply, $again." >&2 ;;
    tampered) echo "::error::reconciler apply: the reviewed plan file failed verification (edited or damaged; the error above says how), so nothing was applied. To apply, $again." >&2 ;;
    refused) echo "::error::reconciler apply: the reviewed plan was refused by a safety rule, so nothing was applied. Fix the manifests, then $again." >&2 ;;
  esac
}

set +e
if [ "${#paths[@]}" -gt 0 ] && { [ "$command" != apply ] || [ -z "$plan_file" ]; }; then
  # Offline, first: each manifest error becomes an annotation on the pull request's diff. The
  # command below reports the same errors again (the plan comment shows them) and fails.
  reconciler validate "${paths[@]}" --format github --no-color >&2 2>/dev/null
fi
case "$command" in
  plan | drift)
    # --detailed-exitcode tells "no changes" (0) from "changes" (2); the plan's Markdown goes
    # to the comment and the step summary, its JSON to the plan file.
    reconciler plan "${paths[@]}" "${selection[@]}" "${sandbox[@]}" --format markdown \
      --out "$plan_file" --detailed-exitcode --no-color "${extra[@]}" >"$markdown_file"
    code=$?
    cat "$markdown_file"
    ;;
  check)
    # Exit 2 when a check failed; the Markdown table goes to the step summary (and the
    # drift issue of examples/github/drift.yml).
    reconciler check "${paths[@]}" "${selection[@]}" "${sandbox[@]}" --format markdown \
      --no-color "${extra[@]}" >"$markdown_file"
    code=$?
    cat "$markdown_file"
    ;;
  apply)
    report=$workdir/apply.txt
    if [ -n "$plan_file" ]; then
      # A saved plan is applied whole (the accounts were chosen when it was made), and only to
      # the manifests it was made from (the paths): to the commit that was reviewed.
      echo "Applying the reviewed plan $plan_file"
      report_json=$workdir/apply.json
      apply_saved "$plan_file" "$report_json"
      if { [ "$outcome" = stale ] || [ "$outcome" = mismatch ]; } && [ "$on_stale" = replan ]; then
        replan_and_apply
      fi
      report_text "$report_json" >"$report"
      explain "$outcome"
    else
      reconciler apply "${paths[@]}" "${selection[@]}" "${sandbox[@]}" --yes --no-color \
        "${extra[@]}" >"$report"
      code=$?
      outcome=$(classify "$code" /dev/null)
    fi
    cat "$report"
    case "$code" in
      5) headline="exit code 5: a guard failed and the changes were rolled back (or kept: rollback never)" ;;
      6) headline="exit code 6: a guard failed and the roll-back did NOT complete; see what is left" ;;
      *) headline="exit code $code" ;;
    esac
    {
      echo "### reconciler apply: $headline"
      echo
      echo '```'
      # A report longer than a summary can hold is cut; the job log has all of it.
      head -c 60000 "$report"
      echo '```'
    } >"$markdown_file"
    ;;
esac
set -e

has_changes=false
if [ "$command" = plan ] || [ "$command" = drift ]; then
  if [ "$code" -eq 2 ]; then
    has_changes=true
  elif [ "$code" -eq 4 ] && [ -s "$plan_file" ]; then
    # Refused: the plan file still says whether there were changes.
    has_changes=$(python3 -c 'import json, sys
print("true" if json.load(open(sys.argv[1], encoding="utf-8"))["changes"] else "false")' \
      "$plan_file" 2>/dev/null || echo false)
  fi
fi

if [ -n "${GITHUB_OUTPUT:-}" ]; then
  {
    echo "exitcode=$code"
    echo "outcome=$outcome"
    echo "plan-file=$plan_file"
    echo "markdown-file=$markdown_file"
    echo "has-changes=$has_changes"
  } >>"$GITHUB_OUTPUT"
fi
if [ -n "${GITHUB_STEP_SUMMARY:-}" ] && [ -s "$markdown_file" ]; then
  cat "$markdown_file" >>"$GITHUB_STEP_SUMMARY"
fi

failed=false
case "$code" in
  0) ;;
  2) { [ "$command" = drift ] || [ "$command" = check ]; } && failed=true ;;
  *) failed=true ;;
esac
if [ "$failed" = true ]; then
  case "$code" in
    1) why="a provider call failed" ;;
    2)
      if [ "$command" = check ]; then
        why="a delivery check failed"
      else
        why="live state drifted from the manifests"
      fi
      ;;
    3) why="invalid input" ;;
    4) why="refused by a safety rule, incomplete live state, or a saved plan that cannot be applied${outcome:+ ($outcome)}" ;;
    7) why="the --notify summary was not posted (the checks' outcome is in the output)" ;;
    *) why="unexpected exit code" ;;
  esac
  echo "::error::reconciler $command exited $code: $why" >&2
  if [ "${RECONCILER_FAIL:-true}" != false ]; then
    exit "$code"
  fi
fi
exit 0
