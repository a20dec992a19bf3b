#!/usr/bin/env bash
# Runs reconciler for the composite action (action.yml) and hands its results to the workflow.
#
# Reads (all optional but the first):
#   RECONCILER_COMMAND    plan | apply | drift
#   RECONCILER_PATHS      manifest files or directories, separated by white space
#   RECONCILER_ACCOUNTS   account names, separated by white space (each becomes --account)
#   RECONCILER_PLAN_FILE  plan: where to save the plan; apply: the saved plan to carry out
#                         (when the file exists; otherwise apply plans again from the paths)
#   RECONCILER_ARGS       more arguments for the command, separated by white space
#   RECONCILER_SANDBOX    "true": use the embedded sandbox (demos, tests)
#   RECONCILER_FAIL       "false": always exit 0 and let the caller judge the exitcode output
#   RUNNER_TEMP, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY   as GitHub Actions sets them
#
# Writes to $GITHUB_OUTPUT: exitcode, plan-file, markdown-file, has-changes; appends the
# Markdown to $GITHUB_STEP_SUMMARY. Exits non-zero when reconciler failed (1), got invalid
# input (3) or refused (4), and in drift mode when the plan has changes (2).
set -euo pipefail
set -f # paths and arguments are words, never glob patterns

command=${RECONCILER_COMMAND:-plan}
case "$command" in
  plan | apply | drift) ;;
  *)
    echo "::error::reconciler action: command must be plan, apply or drift, not '$command'" >&2
    exit 3
    ;;
esac

workdir=${RUNNER_TEMP:-${TMPDIR:-/tmp}}/reconciler-action
mkdir -p "$workdir"
plan_file=${RECONCILER_PLAN_FILE:-}
if [ "$command" != apply ] && [ -z "$plan_file" ]; then
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

if [ "$command" != apply ] || [ -z "$plan_file" ] || [ ! -f "$plan_file" ]; then
  if [ "${#paths[@]}" -eq 0 ]; then
    echo "::error::reconciler action: no manifest paths given (input 'paths')" >&2
    exit 3
  fi
fi

set +e
case "$command" in
  plan | drift)
    # --detailed-exitcode tells "no changes" (0) from "changes" (2); the plan's Markdown goes
    # to the comment and the step summary, its JSON to the plan file.
    reconciler plan "${paths[@]}" "${selection[@]}" "${sandbox[@]}" --format markdown \
      --out "$plan_file" --detailed-exitcode --no-color "${extra[@]}" >"$markdown_file"
    code=$?
    cat "$markdown_file"
    ;;
  apply)
    report=$workdir/apply.txt
    if [ -n "$plan_file" ] && [ -f "$plan_file" ]; then
      # A saved plan is applied whole: the accounts were chosen when it was made.
      echo "Applying the reviewed plan $plan_file"
      reconciler apply --plan "$plan_file" "${sandbox[@]}" --yes --no-color "${extra[@]}" \
        >"$report"
    else
      reconciler apply "${paths[@]}" "${selection[@]}" "${sandbox[@]}" --yes --no-color \
        "${extra[@]}" >"$report"
    fi
    code=$?
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
if [ "$command" != apply ]; then
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
  2) [ "$command" = drift ] && failed=true ;;
  *) failed=true ;;
esac
if [ "$failed" = true ]; then
  case "$code" in
    1) why="a provider call failed" ;;
    2) why="live state drifted from the manifests" ;;
    3) why="invalid input" ;;
    4) why="refused by a safety rule, a stale plan or incomplete live state" ;;
    *) why="unexpected exit code" ;;
  esac
  echo "::error::reconciler $command exited $code: $why" >&2
  if [ "${RECONCILER_FAIL:-true}" != false ]; then
    exit "$code"
  fi
fi
exit 0
