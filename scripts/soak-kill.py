#!/usr/bin/env python3
"""Kills intake (and the handler) with SIGKILL again and again while desks keep submitting, then
checks that nothing acknowledged was lost, changed or stored twice, and that the handler opened
exactly one case for every stored submission.

    swift build -c release --scratch-path .build-release
    python3 scripts/soak-kill.py --seconds 300                     # intake and handler killed
    python3 scripts/soak-kill.py --seconds 120 --kill intake --mean-interval 0.3

The end-to-end tests kill each service once at a chosen moment; this kills them hundreds of times
at random ones (in a commit's fsync, a checkpoint, the WAL starting over, the handler between its
case and its cursor), which a test in CI has no time for. It runs the release executables on
`ipc://` endpoints in a temporary directory (removed at the end unless --keep), with clients of
its own written with pyzmq and protobuf only (Lazy Pirate: on silence or `unavailable`, the same
submission id again, as `liaison submit` does).

What it checks, after the last kill:
  1. every submission sent, acknowledged or not, sent once more with the same id and body, is
     accepted as a duplicate; an acknowledged one gets back the case number it was given;
  2. no case number was given to two submission ids;
  3. intake's stream holds exactly one event for every submission id (its head);
  4. once the handler has applied intake's stream to its head, its database holds exactly one
     case for each of those case numbers and one opening event for each.
Exit status 0 when all hold, 1 (with what failed) otherwise. Needs pyzmq and protobuf (pip).
"""
import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

import zmq

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "examples"))
from liaison.v1 import liaison_pb2 as pb  # noqa: E402

SERVICES = ("intake", "handler", "scheduler", "reporting")


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bin-dir", default=".build-release/release", help="where liaison-intake and liaison-handler are")
    p.add_argument("--seconds", type=float, default=120, help="how long to keep killing")
    p.add_argument("--clients", type=int, default=16, help="desks submitting, one request in flight each")
    p.add_argument("--kill", default="intake,handler", help="services to kill, comma-separated")
    p.add_argument("--mean-interval", type=float, default=0.7, help="mean seconds between kills (exponential)")
    p.add_argument("--seed", type=int, default=None, help="random seed (printed; give it to repeat a run's kill times)")
    p.add_argument("--dir", default=None, help="work in this (empty) directory instead of a new temporary one; it is kept")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (databases, logs)")
    return p.parse_args()


class Service:
    """One service process, started again after each kill; its output appended to a log."""

    def __init__(self, name, args, tmp):
        self.name, self.tmp = name, tmp
        self.argv = [os.path.join(args.bin_dir, "liaison-" + name), "--topology", os.path.join(tmp, "topology.json"),
                     "--data-dir", os.path.join(tmp, "data", name), "--log-level", "warning"]
        self.log = open(os.path.join(tmp, name + ".log"), "ab")
        self.proc, self.kills = None, 0

    def start(self):
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=self.log, env=self.environment())

    @staticmethod
    def environment():
        """This script supervises the services as `liaison up` does: they stop when it goes, however
        it goes. Nothing else of a caller's LIAISON_* settings (keys, topology) reaches them."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIAISON_")}
        env["LIAISON_SUPERVISOR_PID"] = str(os.getpid())
        return env

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.kills += 1

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return "killed after 30 s"
        return self.proc.returncode if self.proc else None


def submission(client, n):
    """The same request body for the same (client, n), every time it is sent."""
    f = pb.SubmitFeedback()
    f.submission_id = "soak-%d-%d" % (client, n)
    f.kind = (pb.FEEDBACK_KIND_COMPLAINT, pb.FEEDBACK_KIND_PRAISE, pb.FEEDBACK_KIND_HELP_REQUEST)[n % 3]
    f.channel = pb.CHANNEL_HOTLINE
    f.unit = ("STN-EAST-01", "STN-NORTH-01", "DIST-EAST")[n % 3]
    f.text = "Desk %d, call %d: the patrol on the corner of the market took %d minutes to come" % (client, n, n % 50)
    if n % 4:
        f.contact.phone = "139%04d%04d" % (client, n % 10000)
    return f


class Desk(threading.Thread):
    """A hotline desk: submits its numbers one after another, each until it is acknowledged."""

    def __init__(self, index, ctx, endpoint, stop, deadline_after_stop):
        super().__init__(daemon=True)
        self.index, self.ctx, self.endpoint, self.stop = index, ctx, endpoint, stop
        self.deadline_after_stop = deadline_after_stop
        self.acked, self.sent, self.failures, self.retries = {}, 0, [], 0
        self.stopped_at = None

    def socket(self):
        s = self.ctx.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.endpoint)
        return s

    def run(self):
        s, n = self.socket(), 0
        while not self.stop.is_set():
            request = pb.Request(version=1, request_id="%d-%d" % (self.index, n))
            request.submit_feedback.CopyFrom(submission(self.index, n))
            wire = request.SerializeToString()
            self.sent = n + 1
            while True:  # the same id until it is acknowledged
                if self.stop.is_set():
                    self.stopped_at = self.stopped_at or time.monotonic()
                    if time.monotonic() - self.stopped_at > self.deadline_after_stop:
                        self.failures.append("soak-%d-%d: no answer %.0f s after the kills stopped" % (self.index, n, self.deadline_after_stop))
                        return
                s.send(wire)
                if not s.poll(1000):
                    s.close()
                    s = self.socket()
                    self.retries += 1
                    continue
                reply = pb.Reply()
                reply.ParseFromString(s.recv())
                kind = reply.WhichOneof("result")
                if kind == "feedback_accepted":
                    self.acked[request.submit_feedback.submission_id] = reply.feedback_accepted.case_number
                    break
                if kind == "error" and reply.error.code == pb.ERROR_CODE_UNAVAILABLE:
                    self.retries += 1
                    time.sleep(max(reply.error.retry_after_ms, 10) / 1000)
                    continue
                self.failures.append("soak-%d-%d: %s" % (self.index, n, reply))
                return
            n += 1
        s.close()


def call(ctx, endpoint, request, timeout_ms=3000, attempts=20):
    """One request, Lazy Pirate: a new socket and the same request on silence."""
    for _ in range(attempts):
        s = ctx.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(endpoint)
        s.send(request.SerializeToString())
        if s.poll(timeout_ms):
            reply = pb.Reply()
            reply.ParseFromString(s.recv())
            s.close()
            return reply
        s.close()
    raise SystemExit("%s did not answer %d times" % (endpoint, attempts))


def resubmit_all(ctx, endpoint, desks):
    """Every id each desk sent, once more, 256 in flight on one DEALER: id → reply."""
    todo = [(d.index, n) for d in desks for n in range(d.sent)]
    replies, s = {}, ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(endpoint)
    pending = {}

    def send(client, n):
        r = pb.Request(version=1, request_id="again-%d-%d" % (client, n))
        r.submit_feedback.CopyFrom(submission(client, n))
        pending[r.request_id] = (client, n)
        s.send_multipart([b"", r.SerializeToString()])

    i = 0
    while i < len(todo) or pending:
        while i < len(todo) and len(pending) < 256:
            send(*todo[i])
            i += 1
        if not s.poll(10_000):
            raise SystemExit("intake stopped answering the resubmissions (%d pending)" % len(pending))
        reply = pb.Reply()
        reply.ParseFromString(s.recv_multipart()[-1])
        client, n = pending.pop(reply.request_id)
        if reply.WhichOneof("result") == "error" and reply.error.code == pb.ERROR_CODE_UNAVAILABLE:
            time.sleep(0.01)
            send(client, n)
            continue
        replies["soak-%d-%d" % (client, n)] = reply
    s.close()
    return replies


def status(ctx, endpoint):
    r = call(ctx, endpoint, pb.Request(version=1, request_id="status", get_status=pb.GetStatus()))
    return r.service_status


def main():
    args = parse()
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    rng = random.Random(seed)
    tmp = args.dir or tempfile.mkdtemp(prefix="liaison-soak-")
    topology = {"services": {name: [{"stream": name + "-1", "requests": "ipc://%s/%s.req" % (tmp, name),
                                     "events": "ipc://%s/%s.pub" % (tmp, name)}] for name in SERVICES}}
    with open(os.path.join(tmp, "topology.json"), "w") as fh:
        json.dump(topology, fh)
    print("seed %d, directory %s" % (seed, tmp), flush=True)
    to_kill = [k for k in args.kill.split(",") if k]
    services = {name: Service(name, args, tmp) for name in ("intake", "handler")}
    for s in services.values():
        s.start()
    intake_req = topology["services"]["intake"][0]["requests"]
    handler_req = topology["services"]["handler"][0]["requests"]
    ctx = zmq.Context()
    problems = []
    try:
        stop = threading.Event()
        desks = [Desk(i, ctx, intake_req, stop, deadline_after_stop=60) for i in range(args.clients)]
        for d in desks:
            d.start()
        started = time.monotonic()
        while time.monotonic() - started < args.seconds:
            time.sleep(rng.expovariate(1 / args.mean_interval))
            victim = services[rng.choice(to_kill)]
            victim.kill9()
            victim.start()
            acked = sum(len(d.acked) for d in desks)
            if sum(s.kills for s in services.values()) % 20 == 0:
                print("%5.0f s  kills %s  acknowledged %d" % (time.monotonic() - started,
                      ", ".join("%s %d" % (n, s.kills) for n, s in services.items()), acked), flush=True)
        stop.set()
        for d in desks:
            d.join()
            problems += d.failures
        acked = {k: v for d in desks for k, v in d.acked.items()}
        sent = sum(d.sent for d in desks)
        print("kills: %s; submissions sent %d, acknowledged %d, retries %d" % (
            ", ".join("%s %d" % (n, s.kills) for n, s in services.items()), sent, len(acked),
            sum(d.retries for d in desks)), flush=True)

        # 1 and 2: every id once more.
        replies = resubmit_all(ctx, intake_req, desks)
        case_of = {}
        for sid, reply in replies.items():
            if reply.WhichOneof("result") != "feedback_accepted":
                problems.append("%s sent again: %s" % (sid, reply))
                continue
            a = reply.feedback_accepted
            if not a.duplicate:
                problems.append("%s sent again was stored as new (it was sent before the kills stopped)" % sid)
            if sid in acked and a.case_number != acked[sid]:
                problems.append("%s was acknowledged as %s, now %s" % (sid, acked[sid], a.case_number))
            case_of[sid] = a.case_number
        for sid in acked:
            if sid not in case_of:
                problems.append("acknowledged %s has no answer now" % sid)
        if len(set(case_of.values())) != len(case_of):
            problems.append("%d case numbers for %d submission ids" % (len(set(case_of.values())), len(case_of)))

        # 3: one event per submission on intake's stream.
        head = status(ctx, intake_req).head_seq
        if head != len(case_of):
            problems.append("intake's stream head is %d for %d stored submissions" % (head, len(case_of)))

        # 4: the handler catches up, then one case and one opening event each.
        deadline = time.monotonic() + 120
        while True:
            cursors = {c.stream: c.applied_seq for c in status(ctx, handler_req).consumers}
            if cursors.get("intake-1", 0) >= head:
                break
            if time.monotonic() > deadline:
                problems.append("the handler applied intake-1 to %s of %d in 120 s" % (cursors.get("intake-1"), head))
                break
            time.sleep(0.2)
        for name, s in services.items():
            code = s.stop()
            if code != 0:
                problems.append("%s stopped with %s on SIGTERM" % (name, code))
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(tmp, "data", "handler", "handler-1.sqlite"), uri=True)
        cases = {row[0] for row in db.execute("SELECT case_number FROM cases")}
        missing = set(case_of.values()) - cases
        extra = cases - set(case_of.values())
        if missing:
            problems.append("the handler has no case for %d submissions, e.g. %s" % (len(missing), sorted(missing)[:5]))
        if extra:
            problems.append("the handler has %d cases intake never gave, e.g. %s" % (len(extra), sorted(extra)[:5]))
        topics = dict(db.execute("SELECT topic, count(*) FROM events GROUP BY topic").fetchall())
        opened = topics.get("case.opened", 0)
        if opened != len(cases):
            problems.append("the handler's stream has %d case.opened events for %d cases (%s)" % (opened, len(cases), topics))
        print("checked: %d submissions stored once each (intake head %d), %d acknowledged unchanged, "
              "%d cases in the handler, %d case.opened events" % (len(case_of), head, len(acked), len(cases), opened))
    finally:
        for s in services.values():
            if s.proc and s.proc.poll() is None:
                s.proc.kill()
                s.proc.wait()
        ctx.destroy(linger=0)
        if not args.keep and not args.dir and not problems:
            shutil.rmtree(tmp, ignore_errors=True)
    if problems:
        print("FAILED, %d problem(s) (seed %d, directory %s):" % (len(problems), seed, tmp))
        for p in problems[:50]:
            print("  " + p)
        return 1
    print("passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
