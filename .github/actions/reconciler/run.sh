#!/usr/bin/env bash
# Runs reconciler for the composite action (action.yml) and hands its results to the workflow.
#
# Reads (all optional but the first):
#   RECONCILER_COMMAND    plan | apply | drift | check (the DeliveryCheck documents)
#   RECONCILER_PATHS      manifest files or directories, separated by white space
#   RECONCILER_ACCOUNTS   account names, separated by white space (each becomes --account)
#   RECONCILER_PLAN_FILE  plan: where to save the plan; apply: the reviewed plan to carry out
#                         (it must exist: a missing file is exit 3 and nothing is applied;
#                         when empty, apply plans again from the paths)
#   RECONCILER_ON_STALE   apply with a plan file: "stop" (default) or "replan": when the
#                         reviewed plan is stale, plan the paths again and apply that plan only
#                         if its changes are exactly the reviewed plan's changes
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

# What became of an apply, from its exit code and its error output: applied, stale (live
# state moved since the review), tampered (the plan file fails verification), refused (a
# safety rule), invalid or failed. The second argument is the command's error output
# (/dev/null when it was not a reviewed plan).
classify() {
  case "$1" in
    0) echo applied ;;
    1) echo failed ;;
    3) if [ "$2" = /dev/null ]; then echo invalid; else echo tampered; fi ;;
    4)
      if grep -q 'live state changed since it was made' "$2"; then
        echo stale
      elif grep -qE 'safety rule|live state is incomplete' "$2"; then
        echo refused
      elif [ "$2" = /dev/null ]; then
        echo refused
      else
        echo tampered
      fi
      ;;
    *) echo failed ;;
  esac
}

# on-stale: replan. The manifests are planned again and that plan is applied only when its
# changes are exactly the reviewed ones, so nothing unreviewed is ever written.
replan_and_apply() {
  local fresh=$workdir/fresh-plan.json
  echo "The reviewed plan is stale; planning the manifests again (on-stale: replan)"
  reconciler plan "${paths[@]}" "${selection[@]}" "${sandbox[@]}" --format json \
    --out "$fresh" --no-color "${extra[@]}" >/dev/null
  code=$?
  if [ "$code" -ne 0 ]; then
    outcome=$(classify "$code" /dev/null)
    return
  fi
  if ! python3 - "$plan_file" "$fresh" <<'PY'; then
import json, sys
reviewed, fresh = (json.load(open(p, encoding="utf-8"))["changes"] for p in sys.argv[1:3])
sys.exit(0 if reviewed == fresh else 1)
PY
    echo "The fresh plan's changes differ from the reviewed plan's changes; nothing was applied" >&2
    code=4
    outcome=changed
    return
  fi
  echo "The fresh plan's changes are exactly the reviewed ones; applying it"
  reconciler apply --plan "$fresh" "${sandbox[@]}" --yes --no-color "${extra[@]}" >"$report"
  code=$?
  outcome=$(classify "$code" /dev/null)
  plan_file=$fresh
}

# Why a reviewed plan was not applied, and how to get one that can be.
explain() {
  local again="open a pull request (or re-run the plan workflow on one) so that a new plan is made and reviewed, then merge it"
  case "$1" in
    stale) echo "::error::reconciler apply: the reviewed plan is stale: live state changed since it was reviewed, so nothing was applied. To apply, $again (or set on-stale: replan to apply main when its plan has exactly the reviewed changes)." >&2 ;;
    changed) echo "::error::reconciler apply: the reviewed plan is stale and the manifests on main plan different changes than were reviewed, so nothing was applied. To apply, $again." >&2 ;;
    tampered) echo "::error::reconciler apply: the reviewed plan file failed verification (edited, damaged, unsigned or too old; the error above says which), so nothing was applied. To apply, $again." >&2 ;;
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
    errors=$workdir/apply.err
    if [ -n "$plan_file" ]; then
      # A saved plan is applied whole: the accounts were chosen when it was made.
      echo "Applying the reviewed plan $plan_file"
      reconciler apply --plan "$plan_file" "${sandbox[@]}" --yes --no-color "${extra[@]}" \
        >"$report" 2>"$errors"
      code=$?
      cat "$errors" >&2
      outcome=$(classify "$code" "$errors")
      if [ "$outcome" = stale ] && [ "$on_stale" = replan ]; then
        replan_and_apply
      fi
      explain "$outcome"
    else
      reconciler apply "${paths[@]}" "${selection[@]}" "${sandbox[@]}" --yes --no-color \
        "${extra[@]}" >"$report"
      code=$?
      outcome=$(classify "$code" /dev/null)
    fi
    cat "$report"
    {
      echo "### reconciler apply: exit code $code"
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
    4) why="refused by a safety rule, a stale plan or incomplete live state" ;;
    7) why="the --notify summary was not posted (the checks' outcome is in the output)" ;;
    *) why="unexpected exit code" ;;
  esac
  echo "::error::reconciler $command exited $code: $why" >&2
  if [ "${RECONCILER_FAIL:-true}" != false ]; then
    exit "$code"
  fi
fi
exit 0
