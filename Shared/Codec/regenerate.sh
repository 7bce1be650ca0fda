#!/usr/bin/env bash
# Regenerates the committed code from Shared/Codec/Proto: Swift for the LiaisonCodec module and
# Python for docs/examples. Needs protoc (apt: protobuf-compiler) and protoc-gen-swift built
# from the swift-protobuf version in Package.swift:
#   git clone <swift-protobuf> && cd swift-protobuf && git checkout 1.39.0 &&
#   swift build -c release --product protoc-gen-swift
# then run:  PROTOC_GEN_SWIFT=/path/to/.build/release/protoc-gen-swift Shared/Codec/regenerate.sh
set -euo pipefail
cd "$(dirname "$0")"
plugin="${PROTOC_GEN_SWIFT:-$(command -v protoc-gen-swift || true)}"
[ -x "$plugin" ] || { echo "protoc-gen-swift not found: set PROTOC_GEN_SWIFT" >&2; exit 1; }
command -v protoc >/dev/null || { echo "protoc not found: apt-get install protobuf-compiler" >&2; exit 1; }
protoc --plugin=protoc-gen-swift="$plugin" -I Proto \
  --swift_opt=Visibility=Public --swift_out=Generated Proto/liaison/v1/liaison.proto
protoc -I Proto --python_out=../../docs/examples Proto/liaison/v1/liaison.proto
echo "regenerated Generated/liaison/v1/liaison.pb.swift and docs/examples/liaison/v1/liaison_pb2.py"
