#!/usr/bin/env bash
# Counts the instructions intake's logic executes per submission, with valgrind's callgrind:
# the same count for the same code, whatever else the machine is doing (the benchmark's own figures
# drift by a fifth between runs here, which hides a change of a few per cent).
#
#   scripts/count-instructions.sh            # release build, then the count
#   OUT=/tmp/cg.out scripts/count-instructions.sh && callgrind_annotate --inclusive=yes /tmp/cg.out | swift demangle --simplified | less
#
# It runs `liaison-bench intake --logic-only --runs 1 --quick` (640 submissions in batches of 32,
# then 50 alone) and collects only inside IntakeService.handle. User-space instructions only: the
# kernel's share of an fsync is not in it.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "installing valgrind"; apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
swift build -c release --scratch-path .build-release --product liaison-bench >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# This valgrind cannot read the DWARF of Swift binaries: count on a copy without it.
cp .build-release/release/liaison-bench "$work/liaison-bench"
strip --strip-debug "$work/liaison-bench"
symbol=$(nm "$work/liaison-bench" | awk '/6Intake0A7ServiceC6handle/ && !found { print $3; found = 1 }')
[ -n "$symbol" ] || { echo "IntakeService.handle not found in liaison-bench" >&2; exit 1; }
out=${OUT:-$work/callgrind.out}
valgrind --tool=callgrind --callgrind-out-file="$out" "--toggle-collect=$symbol" \
  "$work/liaison-bench" intake --logic-only --runs 1 --quick >/dev/null 2>"$work/valgrind.log"
total=$(awk '/Collected :/ { print $4 }' "$work/valgrind.log")
[ -n "$total" ] || { cat "$work/valgrind.log" >&2; exit 1; }
echo "instructions inside IntakeService.handle for 690 submissions: $total ($((total / 690)) a submission)"
