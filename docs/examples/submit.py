#!/usr/bin/env python3
"""A Liaison submitter written with pyzmq and protobuf only: what a web front does with a citizen's feedback.

It hands submissions to intake as docs/PROTOCOL.md ("Requests") says a client should: several in
flight on one DEALER, each with a request id of its own; on a timeout the connection is replaced and
every unanswered request sent again unchanged, with the same submission id, so a submission intake
stored before a crash or a lost reply comes back as a duplicate of the same case, never a second
one; `unavailable` is waited out for the `retry_after_ms` it carries.

    python3 docs/examples/submit.py --topology topology.json --stream intake-1 < feedback.jsonl

Each input line is one SubmitFeedback in protobuf's JSON form, with the front's own id for it:

    {"submission_id": "web-7f3a", "kind": "FEEDBACK_KIND_COMPLAINT", "channel": "CHANNEL_WEB",
     "text": "...", "unit": "STN-EAST-01", "contact": {"phone": "13800000001"}}

Store that id with the form before sending: sent again after the front itself crashed, it still
finds its case. Each line's answer is printed as one JSON object, in input order: its case number and
tracking token (for the citizen), or intake's error naming the field at fault. Exit status 0 when
every line was accepted, 1 when intake refused some (or a line is not a submission), 3 when intake
did not answer for --give-up-after seconds (the lines without an answer are named; send them again).

With --per-request N, up to N lines go in one request (SubmitBatch, at most 100): intake answers
each line on its own (a BatchAccepted item per line, in order), and the same request is sent
again on a timeout or an `unavailable`, as a single one is.

With a topology whose instance has a "curve_public_key", it connects over CURVE with the key pair in
--curve-key-file (as `liaison keygen` writes it), which the instance must allow as a submitter.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zmq  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from consumer import endpoints, key_pair, secure  # noqa: E402
from liaison.v1 import liaison_pb2 as pb  # noqa: E402


def read_lines(stream):
    """(line number, Request or None, problem) for each non-blank line."""
    for number, text in enumerate(stream, start=1):
        if not text.strip():
            continue
        request = pb.Request()
        try:
            json_format.Parse(text, request.submit_feedback)
        except json_format.ParseError as e:
            yield number, None, "not a SubmitFeedback: %s" % e
            continue
        if not request.submit_feedback.submission_id:
            yield number, None, "submission_id is missing: give each line the front's own id, so that it can be sent again safely"
            continue
        yield number, request, None


def batched(lines, per_request, max_bytes=200 * 1024):
    """(numbers, Request) for each request to send: one line each, or up to `per_request` lines
    (and `max_bytes` of them) in one SubmitBatch."""
    if per_request <= 1:
        return [([number], request) for number, request in lines]
    out, numbers, batch, size = [], [], None, 0
    for number, request in lines:
        item = request.submit_feedback.ByteSize() + 4
        if numbers and (len(numbers) >= per_request or size + item > max_bytes):
            out.append((numbers, batch))
            numbers, batch, size = [], None, 0
        if batch is None:
            batch = pb.Request()
        batch.submit_batch.submissions.add().CopyFrom(request.submit_feedback)
        numbers.append(number)
        size += item
    if numbers:
        out.append((numbers, batch))
    return out


def answer(number, submission_id, reply):
    """A line's answer as one JSON object, and whether the submission was accepted. `reply` is a
    Reply, or a BatchItem of one (its fields are named as a Reply's)."""
    if reply.WhichOneof("result") == "feedback_accepted":
        a = reply.feedback_accepted
        return {"line": number, "submission_id": submission_id, "case_number": a.case_number,
                "tracking_token": a.tracking_token, "duplicate": a.duplicate,
                "linked_case_number": a.linked_case_number}, True
    e = reply.error
    return {"line": number, "submission_id": submission_id, "error": pb.ErrorCode.Name(e.code),
            "field": e.field, "message": e.message}, False


class Submitter:
    def __init__(self, ctx, endpoint, server_key=None, keys=None, in_flight=8, timeout_ms=3000):
        self.ctx, self.endpoint, self.server_key, self.keys = ctx, endpoint, server_key, keys
        self.in_flight, self.timeout_ms = in_flight, timeout_ms
        self.socket = None
        self.unanswered = []                    # after run(): the numbers intake never answered

    def connect(self):
        if self.socket is not None:
            self.socket.close()
        self.socket = self.ctx.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        secure(self.socket, self.server_key, self.keys)
        self.socket.connect(self.endpoint)

    def run(self, requests, give_up_after):
        """Sends each (numbers, Request) (or (number, Request) for one line), its request id "line-NUMBER" (or "lines-FIRST-LAST" for a
        batch), and yields (number, reply) for each line as the answers come (for a batch, its
        BatchItem). Ends when every one is answered, or when intake has been silent for
        `give_up_after` seconds: `unanswered` then lists the numbers left."""
        # (numbers, Request), next one last; a bare number is a request of one line
        todo = [(n if isinstance(n, list) else [n], r) for n, r in reversed(requests)]
        pending = {}                            # request id -> (numbers, wire): sent, not answered
        waiting = {}                            # request id -> (numbers, wire, when): `unavailable`, sent again at `when`
        self.unanswered = []
        self.connect()
        last_reply = last_try = time.monotonic()
        while todo or pending or waiting:
            while todo and len(pending) + len(waiting) < self.in_flight:
                number, request = todo.pop()
                request.version = 1
                request.request_id = "line-%d" % number[0] if len(number) == 1 else "lines-%d-%d" % (number[0], number[-1])
                wire = request.SerializeToString()
                pending[request.request_id] = (number, wire)
                self.socket.send_multipart([b"", wire])
            if waiting:
                now = time.monotonic()
                for rid in [rid for rid, (_, _, when) in waiting.items() if now >= when]:
                    number, wire, _ = waiting.pop(rid)
                    pending[rid] = (number, wire)
                    self.socket.send_multipart([b"", wire])
            if self.socket.poll(50):
                reply = pb.Reply.FromString(self.socket.recv_multipart()[-1])
                last_reply = last_try = time.monotonic()
                sent = pending.pop(reply.request_id, None)
                if sent is None:
                    continue                    # a late answer to a request already answered
                if reply.WhichOneof("result") == "error" and reply.error.code == pb.ERROR_CODE_UNAVAILABLE:
                    waiting[reply.request_id] = sent + (last_reply + max(reply.error.retry_after_ms, 10) / 1000,)
                    continue
                if reply.WhichOneof("result") == "batch_accepted":
                    for number, item in zip(sent[0], reply.batch_accepted.items):
                        yield number, item
                else:
                    for number in sent[0]:
                        yield number, reply
                continue
            now = time.monotonic()
            if now - last_reply >= give_up_after:
                self.unanswered = sorted([n for ns, _ in pending.values() for n in ns] + [n for ns, _, _ in waiting.values() for n in ns]
                                         + [n for ns, _ in todo for n in ns])
                return
            if pending and now - last_try >= self.timeout_ms / 1000:
                # Lazy Pirate: a new connection, and every unanswered request again, unchanged.
                self.connect()
                for _, wire in pending.values():
                    self.socket.send_multipart([b"", wire])
                last_try = now

    def close(self):
        if self.socket is not None:
            self.socket.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--topology", help="topology JSON file (default: the local endpoints)")
    ap.add_argument("--stream", default="intake-1", help="the intake instance to send to")
    ap.add_argument("--file", help="JSON lines to submit (default: standard input)")
    ap.add_argument("--in-flight", type=int, default=8, help="requests on their way at once")
    ap.add_argument("--per-request", type=int, default=1, help="lines in one request (SubmitBatch, at most 100; 1: one a request)")
    ap.add_argument("--timeout-ms", type=int, default=3000, help="silence before the connection is replaced and the unanswered sent again")
    ap.add_argument("--give-up-after", type=float, default=60, help="seconds of silence before giving up (exit 3)")
    ap.add_argument("--curve-key-file", help="your CURVE key pair, for an instance that serves over CURVE")
    args = ap.parse_args()

    endpoint, _events, server_key = endpoints(args.topology, args.stream)
    keys = key_pair(args.curve_key_file) if args.curve_key_file else None
    source = open(args.file, encoding="utf-8") if args.file else sys.stdin
    results, lines = {}, []
    with source:
        for number, request, problem in read_lines(source):
            if problem:
                results[number] = ({"line": number, "error": "bad line", "message": problem}, False)
            else:
                lines.append((number, request))
    ids = {number: request.submit_feedback.submission_id for number, request in lines}
    ctx = zmq.Context()
    submitter = Submitter(ctx, endpoint, server_key, keys, args.in_flight, args.timeout_ms)
    printed, order = 0, sorted(list(ids) + list(results))

    def print_ready():
        nonlocal printed
        while printed < len(order) and order[printed] in results:
            print(json.dumps(results[order[printed]][0], ensure_ascii=False), flush=True)
            printed += 1

    try:
        for number, reply in submitter.run(batched(lines, min(max(1, args.per_request), 100)), args.give_up_after):
            results[number] = answer(number, ids[number], reply)
            print_ready()
    finally:
        submitter.close()
        ctx.term()
    unanswered = submitter.unanswered
    for number in order[printed:]:             # what was answered after a line that never was
        if number in results:
            print(json.dumps(results[number][0], ensure_ascii=False), flush=True)
    if unanswered:
        print("no answer from %s for %g s: lines %s not answered; send them again (same ids)" % (
            endpoint, args.give_up_after, ", ".join(map(str, unanswered))), file=sys.stderr)
        return 3
    return 0 if all(ok for _, ok in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
