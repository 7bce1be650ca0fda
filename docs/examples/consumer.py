#!/usr/bin/env python3
"""A Liaison stream consumer written with pyzmq and protobuf only: a third-party client.

It does what every Liaison consumer does (docs/PROTOCOL.md): subscribe live, replay stored
events after its cursor from the stream's requests socket, and replay again whenever a sequence
number is skipped or a heartbeat shows a head beyond the cursor. Each event is printed once, in
order, as one JSON object a line; ten seconds without even a heartbeat is said on standard error.

    python3 docs/examples/consumer.py --topology topology.json --stream handler-1 --from 0 --count 10

With a topology whose instance has a "curve_public_key", it connects over CURVE with the key pair
in --curve-key-file (as `liaison keygen` writes it), which the instance must allow as a consumer.

A real consumer stores its cursor in the same transaction as the effects of each event.
"""
import argparse
import json
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zmq  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from liaison.v1 import liaison_pb2 as pb  # noqa: E402

LOCAL = {"intake-1": ("tcp://127.0.0.1:7101", "tcp://127.0.0.1:7102"),
         "handler-1": ("tcp://127.0.0.1:7201", "tcp://127.0.0.1:7202"),
         "scheduler-1": ("tcp://127.0.0.1:7301", "tcp://127.0.0.1:7302"),
         "reporting-1": ("tcp://127.0.0.1:7401", "tcp://127.0.0.1:7402")}


def endpoints(topology, stream):
    """The stream's requests and events endpoints, and its CURVE public key (None: plain ZMTP)."""
    if topology:
        with open(topology) as fh:
            services = json.load(fh)["services"]
        for instances in services.values():
            for inst in instances:
                if inst["stream"] == stream:
                    return inst["requests"], inst["events"], inst.get("curve_public_key")
        raise SystemExit(f"no stream {stream!r} in {topology}")
    return LOCAL[stream] + (None,)


def key_pair(path):
    """(public, secret) Z85 keys from a key file: 'public KEY' and 'secret KEY' lines."""
    keys = {}
    with open(path) as fh:
        for line in fh:
            words = line.split()
            if len(words) == 2 and words[0] in ("public", "secret"):
                keys[words[0]] = words[1].encode()
    return keys["public"], keys["secret"]


def secure(socket, server_key, keys):
    """Makes `socket` a CURVE client of `server_key` when the instance has one."""
    if server_key is None:
        return
    if keys is None:
        raise SystemExit("the stream's instance serves over CURVE: give --curve-key-file")
    socket.curve_serverkey = server_key.encode()
    socket.curve_publickey, socket.curve_secretkey = keys


class Consumer:
    def __init__(self, ctx, requests, events, cursor, timeout_ms=3000, server_key=None, keys=None):
        self.ctx, self.requests_ep, self.cursor, self.timeout_ms = ctx, requests, cursor, timeout_ms
        self.server_key, self.keys = server_key, keys
        self.live = ctx.socket(zmq.SUB)
        self.live.setsockopt(zmq.LINGER, 0)
        self.live.setsockopt(zmq.SUBSCRIBE, b"")  # every topic: sequence numbers stay dense
        # Over TCP, ZMTP pings every 2 s and drops a connection silent for 10 s, so that one the
        # network lost is made again instead of waiting on TCP for many minutes.
        self.live.setsockopt(zmq.HEARTBEAT_IVL, 2000)
        self.live.setsockopt(zmq.HEARTBEAT_TIMEOUT, 10000)
        secure(self.live, server_key, keys)
        self.live.connect(events)
        self.requests = None
        # An idle stream still sends a heartbeat every second: 10 s of nothing means the upstream,
        # or the network to it, is down. Said once on standard error, and once when it ends.
        self.silence_limit, self.last_heard, self.silence_said = 10.0, time.monotonic(), False

    def heard(self):
        """The upstream was heard (an event, a heartbeat, an answer); says so if its silence was said."""
        if self.silence_said:
            print(f"upstream heard again after {time.monotonic() - self.last_heard:.0f} s", file=sys.stderr, flush=True)
        self.last_heard, self.silence_said = time.monotonic(), False

    def call(self, request):
        """Lazy Pirate: on timeout, drop the socket, open a new one, resend the same request."""
        request.request_id = request.request_id or str(uuid.uuid4())
        request.version = 1
        for _ in range(3):
            if self.requests is None:
                self.requests = self.ctx.socket(zmq.DEALER)
                self.requests.setsockopt(zmq.LINGER, 0)
                secure(self.requests, self.server_key, self.keys)
                self.requests.connect(self.requests_ep)
            self.requests.send_multipart([b"", request.SerializeToString()])
            deadline = time.monotonic() + self.timeout_ms / 1000
            while (left := deadline - time.monotonic()) > 0:
                if not self.requests.poll(int(left * 1000)):
                    break
                frames = self.requests.recv_multipart()
                self.heard()  # an answer to a replay: a long catch-up is not a silence
                reply = pb.Reply.FromString(frames[-1])
                if reply.request_id == request.request_id:
                    if reply.WhichOneof("result") == "error":
                        raise RuntimeError(f"{pb.ErrorCode.Name(reply.error.code)} ({reply.error.field}): {reply.error.message}")
                    return reply
            self.requests.close()
            self.requests = None
        raise TimeoutError(f"no reply from {self.requests_ep}")

    def replay(self):
        while True:
            req = pb.Request()
            req.replay.after_seq = self.cursor
            req.replay.limit = 500
            batch = self.call(req).replay_batch
            for event in batch.events:
                yield event
            self.cursor = max(self.cursor, batch.last_seq)
            if not batch.more:
                return

    def events(self):
        yield from self.replay()
        while True:
            if not self.live.poll(200):
                quiet = time.monotonic() - self.last_heard
                if quiet >= self.silence_limit and not self.silence_said:
                    self.silence_said = True
                    print(f"upstream silent: nothing (no event, no heartbeat) for {quiet:.0f} s; "
                          "is it running, and the network to it up?", file=sys.stderr, flush=True)
                yield None  # idle tick, lets the caller stop
                continue
            self.heard()
            _topic, data = self.live.recv_multipart()
            event = pb.Event.FromString(data)
            if event.topic == "heartbeat":
                if event.heartbeat.head_seq > self.cursor:
                    yield from self.replay()
                continue
            if event.seq <= self.cursor:
                continue
            if event.seq != self.cursor + 1:  # gap: fetch what was missed
                yield from self.replay()
                continue
            self.cursor = event.seq
            yield event

    def close(self):
        self.live.close()
        if self.requests is not None:
            self.requests.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--topology", help="topology JSON file (default: the local endpoints)")
    ap.add_argument("--stream", default="handler-1")
    ap.add_argument("--from", dest="cursor", type=int, default=0, help="print events after this sequence number")
    ap.add_argument("--count", type=int, default=0, help="stop after this many events (0: run until Ctrl-C)")
    ap.add_argument("--seconds", type=float, default=0, help="stop after this long (0: no limit)")
    ap.add_argument("--curve-key-file", help="your CURVE key pair, for an instance that serves over CURVE")
    args = ap.parse_args()

    requests, events, server_key = endpoints(args.topology, args.stream)
    keys = key_pair(args.curve_key_file) if args.curve_key_file else None
    ctx = zmq.Context()
    consumer = Consumer(ctx, requests, events, args.cursor, server_key=server_key, keys=keys)
    started, seen = time.monotonic(), 0
    try:
        for event in consumer.events():
            if event is not None:
                print(json_format.MessageToJson(event, preserving_proto_field_name=True, indent=None), flush=True)
                seen += 1
            if args.count and seen >= args.count:
                break
            if args.seconds and time.monotonic() - started > args.seconds:
                break
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
        ctx.term()
    return 0 if not args.count or seen >= args.count else 1


if __name__ == "__main__":
    sys.exit(main())
