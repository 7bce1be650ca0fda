#!/usr/bin/env bash
# Fuzzes what the services do with a request's bytes before their databases (framing, the hand
# reader against swift-protobuf, intake's submission rules, the handler's command fields) and the
# same bytes as a desk's JSON-lines file: libFuzzer, guided by coverage, with AddressSanitizer.
# A finding stops the run and is written to .build-fuzz/findings/; replay it with the plain build:
#   swift build --product liaison-fuzz-requests && .build/debug/liaison-fuzz-requests FILE
#
#   scripts/fuzz-requests.sh [SECONDS] [CORPUS_DIR]      (default 300 s, a temporary corpus)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
seconds=${1:-300}
corpus=${2:-$(mktemp -d)}
mkdir -p "$corpus" .build-fuzz/findings
# Seeds: the golden requests the codec tests check byte for byte.
cp Tests/CodecTests/Fixtures/submit_feedback_request.bin Tests/CodecTests/Fixtures/submit_batch_request.bin Tests/CodecTests/Fixtures/replay_request.bin "$corpus"/
# and a desk's file (the same bytes are read as one too).
printf '%s\n' '{"kind":"complaint","channel":"hotline","unit":"STN-WEST-01","text":"Loud music; they took 500 yuan from card 6222 0212 3456 7894, call 138 1234 5678","phone":"13800000001","occurred_at":"2026-11-29 08:30"}' \
  '# a comment' '{"kind":"praise","channel":"web","address":"8 Lotus Lane","text":"Thanks","contact":{"email":"a@b.cn"}}' > "$corpus/desk.jsonl"
# and the scheduler's open-week and liaison-programme requests (the Python code generated from the
# schema, docs/examples), so that the fuzzer starts inside their rules.
python3 - "$corpus" <<'PY' || echo "no scheduler seeds (python3 with protobuf needed)" >&2
import sys
sys.path.insert(0, "docs/examples")
from liaison.v1 import liaison_pb2 as pb
out = sys.argv[1]
t = lambda s: {"seconds": s}
seeds = {
    "plan": pb.Request(plan_campaign=pb.PlanCampaign(campaign_id="ow", name="Police Open Week", main_venue="CITY-BUREAU",
                       sub_venues=["DIST-EAST"], starts_at=t(1790100000), ends_at=t(1790600000))),
    "session": pb.Request(add_session=pb.AddSession(campaign_id="ow", session_id="s1", venue="DIST-EAST", theme="Dogs",
                          starts_at=t(1790200000), ends_at=t(1790207200), capacity=2)),
    "register": pb.Request(register_for_session=pb.RegisterForSession(session_id="s1", registration_id="r1", name="Li Wei", party_size=2)),
    "cancel": pb.Request(cancel_registration=pb.CancelRegistration(registration_id="r1")),
    "door": pb.Request(get_session_list=pb.GetSessionList(session_id="s1")),
    "checkin": pb.Request(check_in=pb.CheckIn(registration_id="r1", people=1, actor="desk")),
    "calloff": pb.Request(cancel_session=pb.CancelSession(session_id="s1", reason="Storm warning", actor="desk")),
    "status": pb.Request(get_registration=pb.GetRegistration(registration_id="r1")),
    "duty": pb.Request(assign_duty=pb.AssignDuty(session_id="s1", officer="PC-1", actor="desk")),
    "pair": pb.Request(pair_household=pb.PairHousehold(year=2026, officer="PC-1", station="STN-EAST-01", household_id="h1",
                       household_name="Wang family", address="8 Lotus Lane", actor="desk")),
    "visit": pb.Request(record_visit=pb.RecordVisit(visit_id="v1", year=2026, household_id="h1", officer="PC-1",
                        visited_at=t(1780000000), outcome=3, note="Leaflet", actor="PC-1")),
}
for name, request in seeds.items():
    open(f"{out}/scheduler-{name}.bin", "wb").write(request.SerializeToString())
PY
# SwiftPM links `main` to the module's entry point, which runs libFuzzer's driver; lld links it
# where gold stops with an internal error.
swift build -c release --scratch-path .build-fuzz --product liaison-fuzz-requests \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld
exec .build-fuzz/release/liaison-fuzz-requests "$corpus" -max_total_time="$seconds" -max_len=4096 \
  -artifact_prefix="$repo/.build-fuzz/findings/" -print_final_stats=1
