#!/usr/bin/env bash
# The GitHub Action's step (action.yml): capture, check or diff against a committed snapshot,
# write the Markdown report to the job summary, fail by --fail-on. Inputs arrive as ENVSNAP_*
# variables (never interpolated into this script's text: a workflow input cannot inject shell).
#
#   ENVSNAP_COMMAND   capture | check | diff (default diff)
#   ENVSNAP_SNAPSHOT  the committed snapshot (default envsnap.toml)
#   ENVSNAP_FAIL_ON   critical | major | minor | info | never (default critical)
#   ENVSNAP_POLICY    check's --policy (default exact)
#   ENVSNAP_PYTHON    the interpreter whose environment is captured or checked (default: the
#                     active virtual/conda env, else python3 on PATH)
#   ENVSNAP_BIN       the envsnap executable (default envsnap)
#   ENVSNAP_OUT_DIR   where the report and this runner's snapshot go (default $RUNNER_TEMP)
# Writes report=, snapshot= and exit-code= to $GITHUB_OUTPUT when it is set; exits with
# envsnap's own code (0 ok, 1 a gate failed, 2 bad input).
set -uo pipefail
# ${a[@]+"${a[@]}"} below: an empty array under `set -u` is an error before bash 4.4.

command=${ENVSNAP_COMMAND:-diff}
committed=${ENVSNAP_SNAPSHOT:-envsnap.toml}
fail_on=${ENVSNAP_FAIL_ON:-critical}
policy=${ENVSNAP_POLICY:-exact}
envsnap=${ENVSNAP_BIN:-envsnap}
out_dir=${ENVSNAP_OUT_DIR:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}}
summary=${GITHUB_STEP_SUMMARY:-/dev/null}
# GitHub rejects a step summary over 1 MiB (the upload fails; the step does not).
summary_limit=1000000

mkdir -p "$out_dir"
report="$out_dir/envsnap-report.md"
current="$out_dir/envsnap-current.toml"
errors="$out_dir/envsnap-stderr.txt"

python_args=()
if [[ -n ${ENVSNAP_PYTHON:-} ]]; then
  python_args=(--python "$ENVSNAP_PYTHON")
elif [[ -z ${VIRTUAL_ENV:-} && -z ${CONDA_PREFIX:-} ]]; then
  # envsnap may live in a virtual env of its own (the action installs it there): name the
  # runner's interpreter, or envsnap would capture its own environment.
  runner_python=$(command -v python3 || command -v python || true)
  if [[ -n $runner_python ]]; then
    python_args=(--python "$runner_python")
  fi
fi

case $command in
  capture)
    # The project's commit changes on every push; the committed snapshot leaves it out too.
    "$envsnap" capture ${python_args[@]+"${python_args[@]}"} --skip project -o "$current" 2>"$errors"
    rc=$?
    if [[ $rc -eq 0 ]]; then
      { echo "### envsnap: this runner's environment"; echo; echo '```text'
        "$envsnap" show "$current"; echo '```'; } >"$report" 2>>"$errors"
    fi
    ;;
  check)
    "$envsnap" check "$committed" ${python_args[@]+"${python_args[@]}"} --policy "$policy" --format markdown \
      --fail-on "$fail_on" >"$report" 2>"$errors"
    rc=$?
    ;;
  diff)
    if "$envsnap" capture ${python_args[@]+"${python_args[@]}"} --skip project -q -o "$current" 2>"$errors"; then
      "$envsnap" diff "$committed" "$current" --format markdown --fail-on "$fail_on" \
        >"$report" 2>>"$errors"
      rc=$?
    else
      rc=$?
    fi
    ;;
  *)
    echo "envsnap action: unknown command '$command' (capture, check or diff)" >"$errors"
    rc=2
    ;;
esac

{
  if [[ -s $report ]]; then
    size=$(wc -c <"$report")
    if (( size > summary_limit )); then
      head -c "$summary_limit" "$report"
      printf '\n\n_(report truncated: %s bytes; the whole report is the `report` output)_\n' "$size"
    else
      cat "$report"
    fi
  fi
  if [[ $rc -ge 2 ]]; then
    # Bad input (a missing or malformed snapshot): the reason, not an empty summary.
    printf '\n**envsnap %s failed (exit %s)**\n\n```text\n' "$command" "$rc"
    tail -n 20 "$errors"
    printf '```\n'
  fi
} >>"$summary"
cat "$errors" >&2

if [[ -n ${GITHUB_OUTPUT:-} ]]; then
  {
    echo "report=$report"
    [[ -f $current ]] && echo "snapshot=$current"
    echo "exit-code=$rc"
  } >>"$GITHUB_OUTPUT"
fi
exit "$rc"
