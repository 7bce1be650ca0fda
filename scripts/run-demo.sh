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
# A Police Open Week next week: two venues, three sessions, the public booking one full, an officer
# on duty. Idempotent: its ids carry next Monday's date.
monday=$(date -d "next monday" +%F)
ow="open-week-${monday//-/}"
echo
echo "== planning $ow"
"$liaison" openweek plan "$ow" --name "Police Open Week" --main CITY-BUREAU --sub DIST-EAST --sub DIST-WEST \
  --from "$monday 09:00" --to "$(date -d "$monday + 6 days" +%F) 18:00" > /dev/null
"$liaison" openweek session "$ow" city-tour --venue CITY-BUREAU --theme "The command centre" \
  --from "$monday 10:00" --to "$monday 12:00" --capacity 40 > /dev/null
"$liaison" openweek session "$ow" east-dogs --venue DIST-EAST --theme "Police dogs at work" \
  --from "$monday 14:00" --to "$monday 15:30" --capacity 3 > /dev/null
"$liaison" openweek session "$ow" west-safety --venue DIST-WEST --theme "Anti-fraud clinic" \
  --from "$monday 14:00" --to "$monday 16:00" --capacity 60 > /dev/null
"$liaison" openweek duty city-tour --officer PC-0001 --actor demo-desk > /dev/null
"$liaison" openweek duty east-dogs --officer PC-0001 --actor demo-desk > /dev/null
echo "(PC-0001 to west-safety too? refused, naming east-dogs: an officer is never at two sessions at once)"
"$liaison" openweek duty west-safety --officer PC-0001 --actor demo-desk 2>&1 || true
"$liaison" openweek register east-dogs --name "Chen Jie" --party 2 --registration-id "$ow-1"
"$liaison" openweek register east-dogs --name "Zhao Min" --party 1 --registration-id "$ow-2"
"$liaison" openweek register east-dogs --name "Liu Yang" --party 2 --registration-id "$ow-3"
"$liaison" openweek show "$ow"
echo "(the list at east-dogs' door, by name: an operator's; check-in opens an hour before the session)"
"$liaison" openweek door east-dogs

# The household liaison programme: an officer paired with two households this year (the year as
# the force counts it), one visited. Idempotent: fixed ids and time.
year=$(TZ=Asia/Shanghai date +%Y)
echo
echo "== household liaison programme $year"
"$liaison" programme pair "$year" --officer PC-0001 --station STN-EAST-01 --household EAST01-0001 \
  --name "Wang family" --address "No. 8 Lotus Lane, 3-402" --actor demo-desk > /dev/null
"$liaison" programme pair "$year" --officer PC-0001 --station STN-EAST-01 --household EAST01-0002 \
  --name "Chen family" --address "No. 12 Lotus Lane, 1-101" --actor demo-desk > /dev/null
"$liaison" programme visit "$year" EAST01-0001 --officer PC-0001 --at "$year-01-02 10:00" --outcome education \
  --note "Anti-fraud leaflet; checked the door lock" --visit-id "demo-$year-1" --actor PC-0001 > /dev/null || true
# Hillside's officers are on the unit directory's roster: one paired, two still short of households.
"$liaison" programme pair "$year" --officer PC-0101 --station STN-WEST-01 --household WEST01-0001 \
  --name "Liu family" --address "No. 3 Hill Road, 2-201" --actor demo-desk > /dev/null
"$liaison" programme pair "$year" --officer PC-0101 --station STN-WEST-01 --household WEST01-0002 \
  --name "Gao family" --address "No. 5 Hill Road, 1-102" --actor demo-desk > /dev/null
"$liaison" programme show "$year"

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
