#!/usr/bin/env bash
# Counts the instructions intake's logic executes per submission, with valgrind's callgrind:
# the same count for the same code, whatever else the machine is doing (the benchmark's own figures
# drift by a fifth between runs here, which hides a change of a few per cent).
#
#   scripts/count-instructions.sh            # release build, then the count
#   OUT=/tmp/cg.out scripts/count-instructions.sh && callgrind_annotate --inclusive=yes /tmp/cg.out | swift demangle --simplified | less
#
# Two counts, user-space instructions only (the kernel's share of an fsync is not in them):
#  - intake's logic: `liaison-bench intake --logic-only --runs 1 --quick` (640 submissions in
#    batches of 32, then 50 alone), collecting only inside IntakeService.answer;
#  - intake's request thread: `liaison-bench intake --loop-only --runs 1 --quick` (the request loop
#    on a thread of the benchmark, 32 closed-loop clients over ipc, 640 submissions), collecting
#    only inside RequestLoop.run: reading, decoding, the logic, answering, publishing. (Valgrind
#    cannot run liaison-intake itself.)
# OUT=file keeps the first count's profile, LOOP_OUT=file the second's.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "installing valgrind"; apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
swift build -c release --scratch-path .build-release --product liaison-bench >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# This valgrind cannot read the DWARF of Swift binaries: count on a copy without it.
cp .build-release/release/liaison-bench "$work/liaison-bench"
strip --strip-debug "$work/liaison-bench"
count() {  # count SYMBOL-PATTERN LABEL SUBMISSIONS OUTFILE BENCH-ARGS...
  local pattern=$1 label=$2 subs=$3 out=$4; shift 4
  local symbol
  symbol=$(nm "$work/liaison-bench" | awk -v p="$pattern" '$0 ~ p && !found { print $3; found = 1 }')
  [ -n "$symbol" ] || { echo "$label not found in liaison-bench" >&2; exit 1; }
  valgrind --tool=callgrind --callgrind-out-file="$out" "--toggle-collect=$symbol" \
    "$work/liaison-bench" intake "$@" >/dev/null 2>"$work/valgrind.log"
  local total
  total=$(awk '/Collected :/ { print $4 }' "$work/valgrind.log")
  [ -n "$total" ] || { cat "$work/valgrind.log" >&2; exit 1; }
  echo "instructions inside $label for $subs submissions: $total ($((total / subs)) a submission)"
}
count '6Intake0A7ServiceC6answer' IntakeService.answer 690 "${OUT:-$work/callgrind.out}" --logic-only --runs 1 --quick
count '11RequestLoopC3run7context4stopy' RequestLoop.run 640 "${LOOP_OUT:-$work/callgrind-loop.out}" --loop-only --runs 1 --quick
