#!/usr/bin/env bash
# Starts the whole set with `liaison up`, submits the demo batch (idempotent: fixed submission
# ids), prints the report, and keeps running until Ctrl-C.
set -euo pipefail
BIN="${BIN:-.build/debug}"
DATA_DIR="${DATA_DIR:-data}"
liaison="$BIN/liaison"

# A set already answering on these endpoints would take the demo batch below as this one's:
# say so and stop (liaison up itself would refuse to start beside it, naming what is in use).
if [ "$("$liaison" streams --json --timeout 500 2>/dev/null | grep -c '"service"')" -gt 0 ]; then
  echo "a Liaison set is already running on these endpoints (see: $liaison streams); stop it first" >&2
  exit 1
fi

"$liaison" up --data-dir "$DATA_DIR" &
up=$!
stop() { kill -TERM $up 2>/dev/null || true; wait $up 2>/dev/null || true; }
trap 'stop; exit 0' INT TERM
trap stop EXIT

# Wait (at most 30 s) until every service answers.
deadline=$(( $(date +%s) + 30 ))
until [ "$("$liaison" streams --json --timeout 500 2>/dev/null | grep -c '"service"')" -ge 4 ]; do
  if [ "$(date +%s)" -ge "$deadline" ]; then echo "the services did not come up; see the log above" >&2; exit 1; fi
  kill -0 $up 2>/dev/null || { echo "liaison up exited" >&2; exit 1; }
  sleep 0.3
done
kill -0 $up 2>/dev/null || { echo "liaison up exited" >&2; exit 1; }

echo "== submitting the demo batch (deploy/demo/feedback.psv)"
count=0
while IFS='|' read -r sid kind channel unit address officer category text; do
  [[ -z "$sid" || "$sid" == \#* ]] && continue
  "$liaison" submit --submission-id "$sid" --kind "$kind" --channel "$channel" --unit "$unit" \
    --address "$address" --officer "$officer" --category "$category" --text "$text"
  count=$((count + 1))
done < deploy/demo/feedback.psv

# Wait until reporting has seen every case (at most 30 s), then print the report.
deadline=$(( $(date +%s) + 30 ))
cases_total() { "$liaison" report --json | sed -n 's/.*"cases_total":"\{0,1\}\([0-9]*\)"\{0,1\}.*/\1/p'; }
until [ "$(cases_total)" -ge "$count" ] 2>/dev/null; do
  [ "$(date +%s)" -ge "$deadline" ] && break
  sleep 0.3
done
echo
echo "== cases, most urgent first"
"$liaison" cases

# Work the most urgent case a little, as a desk officer would, and show its audit trail. On a
# second run the case has moved on already and the commands are refused: that is fine.
first=$("$liaison" cases --json --limit 1 --state triaged | sed -n 's/.*"case_number":"\([^"]*\)".*/\1/p' | head -1)
if [ -n "$first" ]; then
  echo
  echo "== working case $first"
  "$liaison" case assign "$first" --officer PC-0001 --actor demo-desk || true
  "$liaison" case accept "$first" --actor PC-0001 || true
  "$liaison" case respond "$first" "We have received this and an officer is on the way." --actor PC-0001 || true
  "$liaison" case show "$first"
fi
echo
echo "== report"
"$liaison" report
echo
echo "== streams"
"$liaison" streams
echo
echo "Liaison is running (data in $DATA_DIR). Try: $liaison events tail --stream handler-1"
echo "Press Ctrl-C to stop."
wait $up
