# Liaison: `make run` runs the whole set with demo data; `make test` runs every test.
SWIFT ?= swift
DATA_DIR ?= data
BIN := .build/debug

.PHONY: deps build run test bench clean

# What a fresh Debian machine lacks: libzmq (with pkg-config), pyzmq + protobuf for the Python
# consumer that the tests run against the real set, and the validators of deploy/ (the Compose
# specification's schema, the Kubernetes API schemas, kubectl kustomize, systemd-analyze) that scripts/check-deploy.py runs,
# and iproute2 (ip netns) and nftables for the tests that spread the set over two hosts, and
# libfuse2 and fusepy for the file system that loses power (where the machine has /dev/fuse), and
# libfaketime for the set whose wall clock is stepped forward and back under it.
deps:
	@if ! pkg-config --exists libzmq 2>/dev/null; then \
	  echo "installing libzmq3-dev"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libzmq3-dev pkg-config >/dev/null; \
	fi
	@python3 -c "import zmq, google.protobuf" 2>/dev/null || { echo "installing pyzmq and protobuf"; python3 -m pip install -q pyzmq protobuf; }
	@command -v kubectl >/dev/null 2>&1 || { echo "installing kubernetes-client (kubectl kustomize renders deploy/kubernetes)"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client >/dev/null; }
	@command -v systemd-analyze >/dev/null 2>&1 || { echo "installing systemd (systemd-analyze verifies deploy/systemd)"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null; }
	@command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || { echo "installing iproute2 (network namespaces: the set over two hosts)"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null; }
	@command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ] || { echo "installing nftables (packets dropped at random between two hosts: a bad line)"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables >/dev/null; }
	@ls /usr/lib/*/faketime/libfaketimeMT.so.1 >/dev/null 2>&1 || { echo "installing libfaketime (the set with its wall clock stepped forward and back)"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libfaketime >/dev/null; }
	@ldconfig -p 2>/dev/null | grep -q "libfuse.so.2 " || [ ! -e /dev/fuse ] || { echo "installing libfuse2 (scripts/crashfs.py: the power-cut soak's file system)"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libfuse2 >/dev/null; }
	@python3 -c "import fuse" 2>/dev/null || [ ! -e /dev/fuse ] || { echo "installing fusepy (scripts/crashfs.py)"; python3 -m pip install -q fusepy; }
	@python3 -c "import check_jsonschema, kubernetes_validate" 2>/dev/null || { echo "installing check-jsonschema and kubernetes-validate (deploy/ checks)"; python3 -m pip install -q check-jsonschema kubernetes-validate; }

# With the tests' flags, so that `swift test` (and `make run` after `make test`, or the other way
# round) reuses this build: SwiftPM builds everything again when the flags change.
build: deps
	$(SWIFT) build --build-tests

run: build
	DATA_DIR=$(DATA_DIR) BIN=$(BIN) scripts/run-demo.sh

test: build
	$(SWIFT) test
	@echo "== benchmark smoke run (figures from a debug build are not meaningful; see README)"
	$(BIN)/liaison-bench intake --quick --curve
	$(BIN)/liaison-bench intake --quick --logic-only
	$(BIN)/liaison-bench intake --quick --loop-only
	$(BIN)/liaison-bench handler --runs 1 --cases 500
	$(BIN)/liaison-bench reporting --runs 1 --cases 2000
	@echo "== the fuzz target's replay build on the golden requests (scripts/fuzz-requests.sh fuzzes)"
	$(BIN)/liaison-fuzz-requests Tests/CodecTests/Fixtures/submit_feedback_request.bin Tests/CodecTests/Fixtures/replay_request.bin
	@echo "== the journal probe builds and runs one short round (scripts/probe-journal.c; docs/PERFORMANCE.md)"
	cc -O2 -Wall -Werror -o $(BIN)/probe-journal scripts/probe-journal.c -lzmq -lsqlite3
	@probe_dir=$$(mktemp -d) && timeout 120 $(BIN)/probe-journal $$probe_dir 1 echo,sqlite,journal 200; status=$$?; rm -rf $$probe_dir; exit $$status

# Benchmark figures worth quoting: release build, 3 runs, medians.
bench: deps
	$(SWIFT) build -c release --scratch-path .build-release --product liaison-bench
	$(SWIFT) build -c release --scratch-path .build-release --product liaison-intake
	.build-release/release/liaison-bench intake --runs 3
	.build-release/release/liaison-bench handler --runs 3
	.build-release/release/liaison-bench reporting --runs 3

clean:
	rm -rf .build $(DATA_DIR)
