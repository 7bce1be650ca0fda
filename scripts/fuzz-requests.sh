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
# SwiftPM links `main` to the module's entry point, which runs libFuzzer's driver; lld links it
# where gold stops with an internal error.
swift build -c release --scratch-path .build-fuzz --product liaison-fuzz-requests \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld
exec .build-fuzz/release/liaison-fuzz-requests "$corpus" -max_total_time="$seconds" -max_len=4096 \
  -artifact_prefix="$repo/.build-fuzz/findings/" -print_final_stats=1
