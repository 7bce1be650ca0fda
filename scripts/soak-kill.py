#!/usr/bin/env python3
"""Kills every service (intake, the handler, reporting, the scheduler) with SIGKILL again and
again while desks keep submitting, then checks that nothing acknowledged was lost, changed or stored twice, that the
handler opened exactly one case for every stored submission, and that reporting counted each once.

    swift build -c release --scratch-path .build-release
    python3 scripts/soak-kill.py --seconds 300                     # every service killed
    python3 scripts/soak-kill.py --seconds 120 --kill intake --mean-interval 0.3
    python3 scripts/soak-kill.py --seconds 300 --intakes 2 --handlers 3   # partitions, two streams
    python3 scripts/soak-kill.py --seconds 300 --partition --curve        # two hosts, the link cut now and then (root)
    python3 scripts/soak-kill.py --seconds 120 --power-cut                # the machine loses power instead (root, FUSE)

The end-to-end tests kill each service once at a chosen moment; this kills them hundreds of times
at random ones (in a commit's fsync, a checkpoint, the WAL starting over, the handler between its
case and its cursor, one partition while the others go on), which a test in CI has no time for. It runs the release executables on
`ipc://` endpoints in a temporary directory (removed at the end unless --keep), with clients of
its own written with pyzmq and protobuf only (Lazy Pirate: on silence or `unavailable`, the same
submission id again, as `liaison submit` does), and desks that send their day's file with `liaison
submit --file` itself (--file-desks: the Swift client, 16 lines a request, two requests on the wire,
its timeout counted from the last answer, batches halved after a silence), file after file.

What it checks, after the last kill:
  1. every submission sent, acknowledged or not, sent once more with the same id and body, is
     accepted as a duplicate; an acknowledged one gets back the case number it was given;
  2. no case number was given to two submission ids;
  3. each intake's stream holds exactly one event for every submission id sent to it (its head);
  4. once every handler partition has applied every intake stream to its head, the partitions'
     databases together hold exactly one case for each of those case numbers (in one partition)
     and one opening event for each;
  5. once reporting has applied every stream to its head, it counts every submission once (in
     total and by kind) and every case once;
  6. no contact a desk sent (phone, e-mail, name, or a phone or card number typed into the text) appears in
     the clear in any file the services wrote: databases, write-ahead logs, logs.

With --partition (root, iproute2) intake runs on one host and the other services on another:
network namespaces joined by a link that is cut now and then for 2-15 s (--cut-seconds; blackhole routes: packets
dropped without an error, as a failed switch does), between the kills; everything talks TCP.
--loss P also drops P % of the packets each host receives (from the other, and from the desks) at
random for the whole run (nftables): a bad line, on which TCP resends, ZMTP heartbeats time out and
the desks retry.
With --power-cut (root, /dev/fuse, fusepy and libfuse2) the services' data directories live on
scripts/crashfs.py, and at each kill moment the whole machine loses power instead: every service
frozen at once and killed, then every write not yet fsync'd forgotten (all of them, or in one cut
in two a random subset, as a torn write-back), then the set started again. A process killed alone
loses nothing the kernel holds; a power cut loses what was not flushed, so only this shows that an
acknowledgement waits for its fsync and that what each service recovers from is consistent.
The same checks follow; a run where no cut forgot anything (nothing was in flight) fails, since it
would have shown nothing. With --fsync-errors besides, one kill moment in three makes the disk fail
instead: the next one to three fsyncs of one service's WAL or database file return EIO, and what
they held is lost at the next cut even if a later fsync succeeds (as on Linux); the service must
answer `unavailable` rather than acknowledge, keep running, and lose nothing it acknowledged.
With --disk-stalls besides, one kill moment in four the disk stops answering for 0.3-2.5 s
instead (crashfs stopped: every write and fsync waits, as on a disk that stalls) while the desks
keep submitting: a service's request thread waits in its commit, a stand-in reads its socket
meanwhile (StallGuard), and nothing acknowledged is lost or doubled when the disk comes back.
Exit status 0 when all hold, 1 (with what failed) otherwise. Needs pyzmq and protobuf (pip).
"""
import argparse
import ctypes
import json
import mmap
import os
import random
import re
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time

import zmq
from google.protobuf import json_format

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "examples"))
from consumer import key_pair, secure  # noqa: E402  (docs/examples/consumer.py: a `liaison keygen` key file, CURVE on a socket)
from submit import Submitter  # noqa: E402  (docs/examples/submit.py: many requests in flight, Lazy Pirate)
from liaison.v1 import liaison_pb2 as pb  # noqa: E402
import crashfs  # noqa: E402  (scripts/crashfs.py: --power-cut)

SERVICES = ("intake", "handler", "scheduler", "reporting")
LIBC = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1
# A service that finds its disk failed an I/O stops itself with this status (Shared/Runtime/DiskFailure.swift).
DISK_FAILURE_STATUS = 74
# With --curve: each endpoint's server key, and the desks' and the console's key pairs.
SERVER_KEYS, CLIENT_KEYS = {}, {}


def parse_range(text, option):
    """MIN-MAX seconds, as `--cut-seconds 60-180` gives them."""
    try:
        low, high = (float(x) for x in text.split("-"))
    except ValueError:
        sys.exit("%s: expected MIN-MAX seconds, as 2-15; got %r" % (option, text))
    if not 0 < low <= high:
        sys.exit("%s: expected 0 < MIN <= MAX; got %r" % (option, text))
    return low, high


def open_socket(ctx, kind, endpoint, who):
    """A socket connected to `endpoint`, over CURVE as `who` (desk, console) when it serves so."""
    s = ctx.socket(kind)
    s.setsockopt(zmq.LINGER, 0)
    secure(s, SERVER_KEYS.get(endpoint), CLIENT_KEYS.get(who))
    s.connect(endpoint)
    return s


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bin-dir", default=".build-release/release", help="where liaison-intake and liaison-handler are")
    p.add_argument("--seconds", type=float, default=120, help="how long to keep killing")
    p.add_argument("--clients", type=int, default=16, help="desks submitting, one request in flight each")
    p.add_argument("--desk-batch", type=int, default=8, choices=range(1, 101), metavar="1-100",
                   help="submissions in each request of half the desks (SubmitBatch); 1: every desk one a request")
    p.add_argument("--file-desks", type=int, default=1,
                   help="desks besides --clients that send their file with `liaison submit --file`, %d lines a file, one "
                        "file after another" % FileDesk.LINES)
    p.add_argument("--intakes", type=int, default=1, help="intake instances (desks spread over them)")
    p.add_argument("--handlers", type=int, default=1, help="handler instances (partitions k/n)")
    p.add_argument("--no-reporting", dest="reporting", action="store_false", help="leave reporting (and the scheduler, which it follows) out")
    p.add_argument("--curve", action="store_true", help="the whole set over CURVE (liaison keygen): desks as submitters, the checks as an operator")
    p.add_argument("--partition", action="store_true", help="intake on one host, the rest on another, the link between them cut now and then (root)")
    p.add_argument("--mean-cut-interval", type=float, default=20, help="with --partition: mean seconds between cuts")
    p.add_argument("--cut-seconds", default="2-15", help="with --partition: how long a cut lasts, MIN-MAX seconds (uniform)")
    p.add_argument("--loss", type=float, default=0, help="with --partition: per cent of the packets each host receives (from the other, "
                   "and from the desks) dropped at random for the whole run (nftables), as a bad line to a district office does")
    p.add_argument("--power-cut", action="store_true",
                   help="the data directories on crashfs (FUSE, root); at each kill moment every service is killed at once and "
                        "every write not yet fsync'd is forgotten, as when the machine loses power")
    p.add_argument("--fsync-errors", action="store_true",
                   help="with --power-cut: one kill moment in three, the next 1-3 fsyncs of a random service's WAL or database "
                        "file fail with EIO instead (what they held is lost at the next cut)")
    p.add_argument("--disk-stalls", action="store_true",
                   help="with --power-cut: one kill moment in four, the disk stops answering for 0.3-2.5 s instead (crashfs "
                        "stopped: every write and fsync waits): the services answer meanwhile, keep running and lose nothing")
    p.add_argument("--kill", default="intake,handler,reporting,scheduler", help="services to kill, comma-separated (any instance of each)")
    p.add_argument("--mean-interval", type=float, default=0.7, help="mean seconds between kills (exponential)")
    p.add_argument("--exit-if-hung-seconds", type=float, default=10,
                   help="each service's --exit-if-hung-seconds (0: off); a service that exits by itself (status 70: a thread "
                        "silent that long) is a problem: under kills and cuts no thread may be taken for hung")
    p.add_argument("--seed", type=int, default=None, help="random seed (printed; give it to repeat a run's kill times)")
    p.add_argument("--dir", default=None, help="work in this (empty) directory instead of a new temporary one; it is kept")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (databases, logs)")
    return p.parse_args()


class Service:
    """One service process, started again after each kill; its output appended to a log."""

    def __init__(self, service, index, args, tmp, topology, namespace=None):
        self.service, self.name = service, "%s-%d" % (service, index + 1)
        self.database = os.path.join(tmp, "data", self.name, self.name + ".sqlite")
        self.argv = [os.path.join(args.bin_dir, "liaison-" + service), "--topology", topology,
                     "--instance", str(index), "--data-dir", os.path.join(tmp, "data", self.name), "--log-level", "warning",
                     "--exit-if-hung-seconds", "%g" % args.exit_if_hung_seconds]
        if args.curve:
            keys = os.path.join(tmp, "keys")
            self.argv += ["--curve-key-dir", keys, "--curve-clients", os.path.join(keys, "curve-clients")]
        if namespace:  # `ip netns exec` enters it and execs the service: the same process
            self.argv = ["ip", "netns", "exec", namespace] + self.argv
        self.log = open(os.path.join(tmp, self.name + ".log"), "ab")
        self.proc, self.kills, self.exits, self.disk_stops = None, 0, [], 0

    def note_exit(self):
        """Records an exit this script did not cause (the process ended by itself)."""
        if self.proc and self.proc.poll() is not None:
            self.exits.append(self.proc.returncode)

    def restart_if_disk_stopped(self):
        """Starts the service again if it stopped itself on a failed disk I/O (status 74, as the
        process manager would); True if it did."""
        if self.proc and self.proc.poll() == DISK_FAILURE_STATUS:
            self.disk_stops += 1
            self.start()
            return True
        return False

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


class Hosts:
    """Host A (intake) and host B (the other services): network namespaces joined by a link, A at
    10.87.0.1 and B at 10.87.0.2, each also linked to this one (10.88.0.0/30, 10.89.0.0/30) so that
    the desks and the checks reach both whatever happens between them. (Addresses of their own:
    the end-to-end tests' two hosts, which may run meanwhile, use 10.77.0.0/30.)"""

    A, B = "10.87.0.1", "10.87.0.2"

    def __init__(self):
        tag = "%x" % (os.getpid() & 0xffffff)
        self.a, self.b = "ls%sa" % tag, "ls%sb" % tag
        self.cut_now, self.cuts, self.cut_at, self.lengths = False, 0, 0.0, []
        try:
            for ns in (self.a, self.b):
                ip("netns", "add", ns)
                ip("-n", ns, "link", "set", "lo", "up")
            ip("link", "add", self.a, "type", "veth", "peer", "name", self.b)
            ip("link", "set", self.a, "netns", self.a)
            ip("link", "set", self.b, "netns", self.b)
            ip("-n", self.a, "addr", "add", self.A + "/30", "dev", self.a)
            ip("-n", self.b, "addr", "add", self.B + "/30", "dev", self.b)
            for ns in (self.a, self.b):
                ip("-n", ns, "link", "set", ns, "up")
            for ns, host, net in ((self.a, self.A, "10.88.0"), (self.b, self.B, "10.89.0")):
                inside, outside = ns + "i", ns + "o"
                ip("link", "add", outside, "type", "veth", "peer", "name", inside)
                ip("link", "set", inside, "netns", ns)
                ip("-n", ns, "addr", "add", net + ".1/30", "dev", inside)
                ip("-n", ns, "link", "set", inside, "up")
                ip("addr", "add", net + ".2/30", "dev", outside)
                ip("link", "set", outside, "up")
                ip("route", "add", host + "/32", "via", net + ".1")
        except Exception:
            self.remove()
            raise

    def lose(self, percent):
        """Drops `percent` of the packets each host receives, from the other and from the desks, at random (nftables)."""
        if shutil.which("nft") is None:
            raise SystemExit("--loss needs nftables (apt-get install nftables)")
        for ns in (self.a, self.b):
            nft = ["ip", "netns", "exec", ns, "nft"]
            subprocess.run(nft + ["add", "table", "inet", "soak"], check=True)
            subprocess.run(nft + ["add", "chain", "inet", "soak", "in", "{ type filter hook input priority 0; }"], check=True)
            for dev in (ns, ns + "i"):  # from the other host, and from this machine (the desks, the checks)
                subprocess.run(nft + ["add", "rule", "inet", "soak", "in", "iifname", dev, "numgen", "random", "mod", "10000",
                                      "<", str(round(percent * 100)), "drop"], check=True)

    def cut(self):
        ip("-n", self.a, "route", "add", "blackhole", self.B + "/32")
        ip("-n", self.b, "route", "add", "blackhole", self.A + "/32")
        self.cut_now, self.cuts, self.cut_at = True, self.cuts + 1, time.monotonic()

    def mend(self):
        if self.cut_now:
            ip("-n", self.a, "route", "del", "blackhole", self.B + "/32")
            ip("-n", self.b, "route", "del", "blackhole", self.A + "/32")
            self.cut_now = False
            self.lengths.append(time.monotonic() - self.cut_at)

    def remove(self):
        for ns in (self.a, self.b):
            subprocess.run(["ip", "link", "del", ns + "o"], stderr=subprocess.DEVNULL)
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)


def ip(*args):
    subprocess.run(["ip"] + list(args), check=True)


def submission(client, n):
    """The same request body for the same (client, n), every time it is sent."""
    f = pb.SubmitFeedback()
    f.submission_id = "soak-%d-%d" % (client, n)
    f.kind = (pb.FEEDBACK_KIND_COMPLAINT, pb.FEEDBACK_KIND_PRAISE, pb.FEEDBACK_KIND_HELP_REQUEST)[n % 3]
    f.channel = pb.CHANNEL_HOTLINE
    f.unit = ("STN-EAST-01", "STN-NORTH-01", "DIST-EAST")[n % 3]
    f.text = "Desk %d, call %d: the patrol on the corner of the market took %d minutes to come" % (client, n, n % 50)
    if n % 5 == 0:
        # A number typed into the text, as citizens on the web do: intake seals it with the contact.
        f.text += ". Call me back on 138 %04d %04d" % (client, n % 10000)
    if n % 7 == 0:
        # A fraud victim's card number: sealed likewise.
        f.text += ". The money went from my card %s" % card(client, n)
    if n % 4:
        f.contact.phone = phone(client, n)
    if n % 4 == 2:
        f.contact.email = "soak%d.%d@example.org" % (client, n)
    if n % 4 == 3:
        f.contact.name = "Citizen %d-%d" % (client, n)
    return f


def phone(client, n):
    return "139%04d%04d" % (client, n % 10000)


def card(client, n):
    """A UnionPay card number, as a card prints it: 6222, the desk and the call, and the Luhn check digit."""
    digits = "6222%04d%04d000" % (client, n % 10000)
    total = 0
    for k, d in enumerate(reversed(digits)):   # the check digit will be rightmost: double from here
        v = int(d) * (2 if k % 2 == 0 else 1)
        total += v - 9 if v > 9 else v
    digits += str((10 - total % 10) % 10)
    return " ".join(digits[i:i + 4] for i in range(0, 16, 4))


# What check 6 looks for: a name, an e-mail or a number in the text as submission() writes them
# (nothing else does), or eleven digits that are a phone a desk sent.
CONTACT_IN_THE_CLEAR = re.compile(rb"139\d{8}|soak\d+\.\d+@example\.org|Citizen \d+-\d+|138 \d{4} \d{4}|6222 \d{4} \d{4} \d{4}")
# An event id (a UUID) whose last group is all digits may hold eleven that are a phone a desk sent
# (`…-89d2-139000550748`, once in a 150-s soak): not a contact.
UUID = re.compile(rb"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def inside_uuid(m, start, end):
    """Whether bytes start..end of `m` lie inside a UUID."""
    base = max(0, start - 36)
    return any(u.start() <= start - base and end - base <= u.end() for u in UUID.finditer(m[base:end + 36]))


def contacts_in_the_clear(tmp, phones):
    """Each file under `tmp` (databases, write-ahead logs, the services' logs) where a contact the
    desks sent appears in the clear, with the first one found: (files read, bytes read, leaks)."""
    leaks, files, size = [], 0, 0
    for root, _, names in os.walk(tmp):
        for name in names:
            path = os.path.join(root, name)
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
                continue  # ipc:// sockets, empty files
            files, size = files + 1, size + st.st_size
            with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
                for match in CONTACT_IN_THE_CLEAR.finditer(m):
                    text = match.group().decode()
                    if not text.startswith("139") or (text in phones and not inside_uuid(m, match.start(), match.end())):
                        leaks.append("%s holds %s in the clear" % (os.path.relpath(path, tmp), text))
                        break
    return files, size, leaks


class Desk(threading.Thread):
    """A hotline desk: submits its numbers one after another, each until it is acknowledged; with
    `per_request` over 1, that many at a time in one SubmitBatch (a desk sending its file), the same
    request until every one of it is acknowledged."""

    # Set when the soak ends early (Ctrl-C, SIGTERM, an error) and closes every socket under the
    # desks still running: each then ends quietly instead of printing its socket's error.
    abandoned = threading.Event()

    def __init__(self, index, ctx, endpoint, stop, deadline_after_stop, per_request=1):
        super().__init__(daemon=True)
        self.index, self.ctx, self.endpoint, self.stop = index, ctx, endpoint, stop
        self.per_request = max(1, per_request)
        self.deadline_after_stop = deadline_after_stop
        self.acked, self.sent, self.failures, self.retries = {}, 0, [], 0
        self.stopped_at = None

    def socket(self):
        return open_socket(self.ctx, zmq.REQ, self.endpoint, "desk")

    def run(self):
        try:
            self.submit()
        except zmq.ZMQError:
            if not Desk.abandoned.is_set():
                raise

    def submit(self):
        s, n = self.socket(), 0
        while not self.stop.is_set():
            request = pb.Request(version=1, request_id="%d-%d" % (self.index, n))
            if self.per_request == 1:
                request.submit_feedback.CopyFrom(submission(self.index, n))
            else:
                for k in range(self.per_request):
                    request.submit_batch.submissions.add().CopyFrom(submission(self.index, n + k))
            wire = request.SerializeToString()
            self.sent = n + self.per_request
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
                if kind == "batch_accepted" and len(reply.batch_accepted.items) == self.per_request:
                    for k, item in enumerate(reply.batch_accepted.items):
                        if item.WhichOneof("result") != "feedback_accepted":
                            self.failures.append("soak-%d-%d: %s" % (self.index, n + k, item))
                            return
                        self.acked[request.submit_batch.submissions[k].submission_id] = item.feedback_accepted.case_number
                    break
                if kind == "error" and reply.error.code == pb.ERROR_CODE_UNAVAILABLE:
                    self.retries += 1
                    time.sleep(max(reply.error.retry_after_ms, 10) / 1000)
                    continue
                self.failures.append("soak-%d-%d: %s" % (self.index, n, reply))
                return
            n += self.per_request
        s.close()


class FileDesk(threading.Thread):
    """A desk that sends its day's file with `liaison submit --file` (the Swift client, its defaults:
    16 lines a request, two requests on the wire), one file of `lines` submissions after another, the
    same bodies a Desk of its index would send, and records each line's case from the command's
    --json output. Each file must end well (exit 0, every line answered) however often intake is
    killed, its disk stalls or its link is cut meanwhile: the command waits intake out (--retries
    is large); a file still running `deadline_after_stop` seconds after the kills stopped is a
    problem. The files live in `files_dir` (not under the services' directory, whose every file
    is read for contacts in the clear) and are removed once sent."""

    LINES = 200

    def __init__(self, index, cli, topology, key_file, intake, endpoint, stop, deadline_after_stop, files_dir):
        super().__init__(daemon=True)
        self.index, self.cli, self.topology, self.key_file, self.intake = index, cli, topology, key_file, intake
        self.endpoint, self.stop, self.deadline_after_stop, self.files_dir = endpoint, stop, deadline_after_stop, files_dir
        self.acked, self.sent, self.failures, self.retries, self.files = {}, 0, [], 0, 0
        self.proc = None

    def run(self):
        n = 0
        while not self.stop.is_set() and not Desk.abandoned.is_set():
            path = os.path.join(self.files_dir, "desk-%d-%d.jsonl" % (self.index, n))
            with open(path, "w") as f:
                for k in range(n, n + self.LINES):
                    f.write(json.dumps(json_format.MessageToDict(submission(self.index, k), preserving_proto_field_name=True)) + "\n")
            self.sent = n + self.LINES
            command = [self.cli, "submit", "--file", path, "--topology", self.topology, "--intake", self.intake,
                       "--timeout", "1000", "--retries", "100000", "--json"]
            if self.key_file:
                command += ["--curve-key-file", self.key_file]
            out_path = path + ".out"
            with open(out_path, "w") as out:
                env = {k: v for k, v in os.environ.items() if not k.startswith("LIAISON_")}
                # The command dies with the script (PR_SET_PDEATHSIG), however the script ends: it
                # retries for as long as intake might come back, and nobody else would stop it.
                self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env,
                                             preexec_fn=lambda: LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL))
                stopped_at = None
                late = False                    # killed at the deadline: one problem, said below
                while self.proc.poll() is None:
                    if Desk.abandoned.is_set():
                        self.proc.kill()
                    elif self.stop.is_set() and not late:
                        stopped_at = stopped_at or time.monotonic()
                        if time.monotonic() - stopped_at > self.deadline_after_stop:
                            self.proc.kill()
                            late = True
                    time.sleep(0.05)
            os.remove(path)
            if Desk.abandoned.is_set():
                return
            lines = open(out_path, errors="replace").read().splitlines()
            os.remove(out_path)
            answered = 0
            for line in lines:
                try:
                    o = json.loads(line)
                except ValueError:
                    continue
                if "case_number" in o and "line" in o:
                    self.acked["soak-%d-%d" % (self.index, n + o["line"] - 1)] = o["case_number"]
                    answered += 1
                    self.retries += 1 if o.get("duplicate") else 0
            if late:
                self.failures.append("file desk %d: its file from soak-%d-%d.. was not through %.0f s after the kills stopped (killed then), %d of %d lines answered: %s" % (
                    self.index, self.index, n, self.deadline_after_stop, answered, self.LINES, " | ".join(lines[-3:])))
                return
            if self.proc.returncode != 0 or answered != self.LINES:
                self.failures.append("file desk %d: `liaison submit --file` of soak-%d-%d.. ended with status %s, %d of %d lines answered: %s" % (
                    self.index, self.index, n, self.proc.returncode, answered, self.LINES, " | ".join(lines[-3:])))
                return
            self.files += 1
            n += self.LINES


def call(ctx, endpoint, request, timeout_ms=3000, attempts=20):
    """One request, Lazy Pirate: a new socket and the same request on silence."""
    for _ in range(attempts):
        s = open_socket(ctx, zmq.REQ, endpoint, "console")
        s.send(request.SerializeToString())
        if s.poll(timeout_ms):
            reply = pb.Reply()
            reply.ParseFromString(s.recv())
            s.close()
            return reply
        s.close()
    raise SystemExit("%s did not answer %d times" % (endpoint, attempts))


def resubmit_all(ctx, endpoint, desks):
    """Every id the desks sent to `endpoint`, once more, 256 in flight (docs/examples/submit.py's
    Submitter: one DEALER, Lazy Pirate): id -> reply."""
    todo = [(d.index, n) for d in desks if d.endpoint == endpoint for n in range(d.sent)]
    requests = []
    for k, (client, n) in enumerate(todo):
        r = pb.Request()
        r.submit_feedback.CopyFrom(submission(client, n))
        requests.append((k, r))
    submitter = Submitter(ctx, endpoint, SERVER_KEYS.get(endpoint), CLIENT_KEYS.get("desk"), in_flight=256)
    try:
        replies = {"soak-%d-%d" % todo[k]: reply for k, reply in submitter.run(requests, give_up_after=10)}
    finally:
        submitter.close()
    if submitter.unanswered:
        raise SystemExit("intake stopped answering the resubmissions (%d unanswered)" % len(submitter.unanswered))
    return replies


def caught_up(ctx, name, endpoint, heads, deadline):
    """Waits until the consumer `name` has applied each stream of `heads` to its head; a problem
    (in a list) if it has not by `deadline`."""
    while True:
        cursors = {c.stream: c.applied_seq for c in status(ctx, endpoint).consumers}
        behind = {k: (cursors.get(k, 0), v) for k, v in heads.items() if cursors.get(k, 0) < v}
        if not behind:
            return []
        if time.monotonic() > deadline:
            return ["%s had not applied (cursor, head) %s in time" % (name, behind)]
        time.sleep(0.2)


def serving(ctx, endpoint):
    """Whether the instance answers its status at once and is not waiting for its disk."""
    try:
        reply = call(ctx, endpoint, pb.Request(version=1, request_id="serving", get_status=pb.GetStatus()), timeout_ms=2000, attempts=1)
    except SystemExit:
        return False
    return reply.WhichOneof("result") == "service_status" and reply.service_status.request_thread_held_ms == 0


def status(ctx, endpoint):
    r = call(ctx, endpoint, pb.Request(version=1, request_id="status", get_status=pb.GetStatus()))
    return r.service_status


def main():
    args = parse()
    # Ctrl-C, SIGTERM (a CI job's timeout) and a closed terminal end the soak through the `finally`
    # below, which stops the services, takes the power-cut disk away and removes the network
    # namespaces. (Python's default for SIGTERM and SIGHUP ends the process without it.) One that
    # comes while they are being set up waits until the `finally` can undo them.
    pending = []
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, lambda n, frame: pending.append(n))
    cut_seconds = parse_range(args.cut_seconds, "--cut-seconds")
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    rng = random.Random(seed)
    counts = {"intake": args.intakes, "handler": args.handlers, "scheduler": 1 if args.reporting else 0, "reporting": 1 if args.reporting else 0}
    if args.loss and not args.partition:
        sys.exit("--loss: only with --partition (the packets between the two hosts)")
    if not 0 <= args.loss < 100:
        sys.exit("--loss: expected a per cent from 0 to under 100; got %g" % args.loss)
    if args.fsync_errors and not args.power_cut:
        sys.exit("--fsync-errors: only with --power-cut (crashfs fails them)")
    if args.disk_stalls and not args.power_cut:
        sys.exit("--disk-stalls: only with --power-cut (crashfs is stopped)")
    if args.power_cut and args.partition:
        sys.exit("--power-cut: not with --partition (the namespaces' hosts would share one disk)")
    tmp = args.dir or tempfile.mkdtemp(prefix="liaison-soak-")   # once the options are known good
    hosts = Hosts() if args.partition else None
    if hosts and args.loss:
        try:
            hosts.lose(args.loss)
        except BaseException:
            hosts.remove()
            raise
        print("%g %% of the packets each host receives (from the other, and from the desks) dropped at random" % args.loss, flush=True)

    def endpoints(name, i):
        if not hosts:
            return "ipc://%s/%s-%d.req" % (tmp, name, i + 1), "ipc://%s/%s-%d.pub" % (tmp, name, i + 1)
        port = {"intake": 7101, "handler": 7201, "scheduler": 7301, "reporting": 7401}[name] + 20 * i
        host = Hosts.A if name == "intake" else Hosts.B
        return "tcp://%s:%d" % (host, port), "tcp://%s:%d" % (host, port + 1)

    topology = {"services": {name: [dict(zip(("stream", "requests", "events"), ("%s-%d" % (name, i + 1),) + endpoints(name, i)))
                                    for i in range(counts[name])]
                             for name in SERVICES}}
    topology_path = os.path.join(tmp, "topology.json")
    with open(topology_path, "w") as fh:
        json.dump(topology, fh)
    if args.curve:
        keys = os.path.join(tmp, "keys")
        subprocess.run([os.path.join(args.bin_dir, "liaison"), "keygen", "--topology", topology_path, "--into", keys,
                        "--client", "submitter:desk", "--client", "operator:console"],
                       check=True, stdout=subprocess.DEVNULL, env=Service.environment())
        topology_path = os.path.join(keys, "topology.json")
        with open(topology_path) as fh:
            for instances in json.load(fh)["services"].values():
                for inst in instances:
                    SERVER_KEYS[inst["requests"]] = inst["curve_public_key"]
        CLIENT_KEYS["desk"], CLIENT_KEYS["console"] = key_pair(os.path.join(keys, "desk.key")), key_pair(os.path.join(keys, "console.key"))
    print("seed %d, directory %s" % (seed, tmp), flush=True)
    to_kill = [k for k in args.kill.split(",") if k]
    def host_of(name):
        return None if not hosts else hosts.a if name == "intake" else hosts.b

    services = {s.name: s for name in SERVICES
                for s in (Service(name, i, args, tmp, topology_path, host_of(name)) for i in range(counts[name]))}
    disk = None
    if args.power_cut:
        disk = crashfs.Mounted(os.path.join(tmp, "disk"), os.path.join(tmp, "data"), log=open(os.path.join(tmp, "crashfs.log"), "ab"))
        cuts = {"all": 0, "some": 0, "forgot": 0, "writes": 0, "bytes": 0, "files": 0, "fsync errors": 0, "stalls": 0, "stalled": 0.0}
    for s in services.values():
        s.start()
    requests = {"%s-%d" % (name, i + 1): inst["requests"] for name in SERVICES
                for i, inst in enumerate(topology["services"][name])}
    intakes = [s for s in services.values() if s.service == "intake"]
    handlers = [s for s in services.values() if s.service == "handler"]
    reporters = [s for s in services.values() if s.service == "reporting"]
    victims = [s for s in services.values() if s.service in to_kill]
    ctx = zmq.Context()
    problems = []
    desks, files_dir = [], None     # made in the `try`, undone in its `finally`
    try:
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, lambda n, frame: sys.exit(128 + n))
        if pending:
            sys.exit(128 + pending[0])
        stop = threading.Event()
        # Half the desks (two in every four, so that each of two intakes has some) send their
        # submissions --desk-batch at a time, in one SubmitBatch.
        desks = [Desk(i, ctx, requests[intakes[i % len(intakes)].name], stop, deadline_after_stop=60,
                      per_request=args.desk_batch if i % 4 >= 2 else 1) for i in range(args.clients)]
        files_dir = tempfile.mkdtemp(prefix="liaison-soak-files-")
        desks += [FileDesk(args.clients + i, os.path.join(args.bin_dir, "liaison"), topology_path,
                           os.path.join(tmp, "keys", "desk.key") if args.curve else None,
                           intakes[i % len(intakes)].name, requests[intakes[i % len(intakes)].name], stop, 60, files_dir)
                  for i in range(args.file_desks)]
        for d in desks:
            d.start()
        started = time.monotonic()
        cutter = None
        if hosts:
            def cut_now_and_then(cut_rng=random.Random(seed + 1)):
                while not stop.wait(cut_rng.expovariate(1 / args.mean_cut_interval)):
                    hosts.cut()
                    stop.wait(cut_rng.uniform(*cut_seconds))
                    hosts.mend()
            cutter = threading.Thread(target=cut_now_and_then, daemon=True)
            cutter.start()
        def restart_disk_stopped():
            if args.fsync_errors:
                for s in services.values():
                    s.restart_if_disk_stopped()

        while time.monotonic() - started < args.seconds:
            until = time.monotonic() + rng.expovariate(1 / args.mean_interval)
            while time.monotonic() < until:
                time.sleep(max(0, min(0.05, until - time.monotonic())))
                restart_disk_stopped()
            if disk and args.disk_stalls and rng.random() < 1 / 4:
                # The disk stalls: every write and fsync on it waits, the desks keep submitting.
                # Only once every intake serves: a stall while a service opens its database after
                # a cut holds it up before it has a socket to answer on, which shows nothing new.
                length = rng.uniform(0.3, 2.5)
                if not all(serving(ctx, requests[s.name]) for s in intakes):
                    continue
                disk.stall()
                try:
                    time.sleep(length)
                finally:
                    disk.resume()
                cuts["stalls"] += 1
                cuts["stalled"] += length
                continue
            if disk and args.fsync_errors and rng.random() < 1 / 3:
                # The disk fails a write-back: the next fsyncs of one file return EIO.
                victim = rng.choice(list(services.values()))
                disk.fail_fsyncs(rng.randint(1, 3), "/%s/%s.sqlite%s" % (victim.name, victim.name, rng.choice(("-wal", ""))))
                cuts["fsync errors"] += 1
                continue
            if disk:
                # The power goes: every service stops at once (frozen, then killed), then what no
                # fsync made durable is forgotten; the power comes back and the set starts again.
                restart_disk_stopped()
                everyone = list(services.values())
                for s in everyone:
                    s.note_exit()
                    if s.proc.poll() is None:
                        s.proc.send_signal(signal.SIGSTOP)
                for s in everyone:
                    s.kill9()
                mode = rng.choice(("all", "some"))
                after = disk.cut(mode, rng.randrange(1 << 32))
                cuts[mode] += 1
                cuts["writes"] += after["lost_writes_last_cut"]
                cuts["bytes"] += after["lost_bytes_last_cut"]
                cuts["files"] += after["removed_files_last_cut"]
                cuts["forgot"] += 1 if after["lost_writes_last_cut"] or after["removed_files_last_cut"] else 0
                for s in everyone:
                    s.start()
                if (cuts["all"] + cuts["some"]) % 20 == 0:
                    print("%5.0f s  power cuts %d  acknowledged %d" % (time.monotonic() - started, cuts["all"] + cuts["some"],
                                                                     sum(len(d.acked) for d in desks)), flush=True)
                continue
            victim = rng.choice(victims)
            victim.note_exit()
            victim.kill9()
            victim.start()
            acked = sum(len(d.acked) for d in desks)
            if sum(s.kills for s in services.values()) % 20 == 0:
                print("%5.0f s  kills %s  acknowledged %d" % (time.monotonic() - started,
                      ", ".join("%s %d" % (n, s.kills) for n, s in services.items()), acked), flush=True)
        if disk and args.fsync_errors:
            disk.heal()
            restart_disk_stopped()
            healed = threading.Event()

            def keep_restarting():
                while not healed.wait(0.05):
                    restart_disk_stopped()
            restarter = threading.Thread(target=keep_restarting, daemon=True)
            restarter.start()
        stop.set()
        if cutter:
            cutter.join()
            print("the link between the hosts was cut %d time(s)%s" % (
                hosts.cuts, ": " + ", ".join("%.0f s" % x for x in hosts.lengths) if hosts.lengths else ""), flush=True)
        for d in desks:
            d.join()
            problems += d.failures
        file_desks = [d for d in desks if isinstance(d, FileDesk)]
        if file_desks:
            print("file desks (liaison submit --file): %d files of %d lines sent through the kills, %d lines answered as already stored" % (
                sum(d.files for d in file_desks), FileDesk.LINES, sum(d.retries for d in file_desks)), flush=True)
        acked = {k: v for d in desks for k, v in d.acked.items()}
        sent = sum(d.sent for d in desks)
        print("kills: %d (%s); submissions sent %d, acknowledged %d, retries %d" % (
            sum(s.kills for s in services.values()), ", ".join("%s %d" % (n, s.kills) for n, s in services.items()), sent, len(acked),
            sum(d.retries for d in desks)), flush=True)
        if disk:
            print("power cuts: %d (%d forgetting every write not fsync'd, %d a random subset); %d forgot something: "
                  "%d writes (%d bytes) undone, %d files never made durable removed" % (
                      cuts["all"] + cuts["some"], cuts["all"], cuts["some"], cuts["forgot"], cuts["writes"], cuts["bytes"], cuts["files"]),
                  flush=True)
            if not cuts["forgot"]:
                problems.append("no power cut forgot anything (no write was in flight at any cut): the run showed nothing")
            if args.disk_stalls:
                held = sum(open(os.path.join(tmp, n + ".log"), errors="replace").read().count("request thread held up") for n in services)
                print("disk stalls: %d (%.1f s in all); request threads stood in for while held up: %d time(s)" % (
                    cuts["stalls"], cuts["stalled"], held), flush=True)
                if cuts["stalls"] >= 3 and not held:
                    problems.append("the disk stalled %d times and no request thread was stood in for: the run showed nothing" % cuts["stalls"])
            if args.fsync_errors:
                failed = disk.stats()["failed_fsyncs_total"]
                stopped = {n: s.disk_stops for n, s in services.items() if s.disk_stops}
                print("fsync errors: %d times the disk was told to fail; %d fsyncs returned EIO; services that stopped "
                      "themselves on it (status %d) and were started again: %s" % (
                          cuts["fsync errors"], failed, DISK_FAILURE_STATUS,
                          ", ".join("%s %d" % kv for kv in stopped.items()) or "none"), flush=True)
                if not failed:
                    problems.append("no fsync failed (none was due when told): the run showed nothing of them")

        # 1 and 2: every id once more.
        replies = {}
        for s in intakes:
            replies.update(resubmit_all(ctx, requests[s.name], desks))
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

        # 3: one event per submission on each intake's stream.
        heads = {}
        for s in intakes:
            heads[s.name] = status(ctx, requests[s.name]).head_seq
            stored = sum(d.sent for d in desks if d.endpoint == requests[s.name])
            if heads[s.name] != stored:
                problems.append("%s's stream head is %d for %d stored submissions" % (s.name, heads[s.name], stored))

        # 4: every partition catches up with every intake, then one case and one opening event each.
        deadline = time.monotonic() + 120
        for h in handlers:
            problems += caught_up(ctx, h.name, requests[h.name], heads, deadline)
        # 5: reporting catches up with every stream it follows; its counts are exact.
        for h in handlers + [s for s in services.values() if s.service == "scheduler"]:
            heads[h.name] = status(ctx, requests[h.name]).head_seq
        for r in reporters:
            problems += caught_up(ctx, r.name, requests[r.name], heads, deadline)
            report = call(ctx, requests[r.name], pb.Request(version=1, request_id="report", get_report=pb.GetReport())).report
            kinds = {}
            for d in desks:
                for n in range(d.sent):
                    name = pb.FeedbackKind.Name(submission(d.index, n).kind).removeprefix("FEEDBACK_KIND_").lower()
                    kinds[name] = kinds.get(name, 0) + 1
            counted = {c.key: c.count for c in report.by_kind}
            if report.feedback_total != len(case_of) or counted != kinds:
                problems.append("%s counts %d submissions %s; stored: %d %s" % (r.name, report.feedback_total, counted, len(case_of), kinds))
            print("%s: %d submissions, %d cases, by kind %s" % (r.name, report.feedback_total, report.cases_total, counted))
            reported_cases = report.cases_total
        if disk and args.fsync_errors:
            healed.set()
            restarter.join()
            restart_disk_stopped()
        for name, s in services.items():
            s.note_exit()
            if s.exits:
                problems.append("%s exited by itself %d time(s), with status %s (70: a thread taken for hung; see its log)" % (
                    name, len(s.exits), sorted(set(s.exits))))
                continue
            code = s.stop()
            if code != 0:
                problems.append("%s stopped with %s on SIGTERM" % (name, code))
        if disk:
            # Every service is stopped: read the disk itself from here on (and not twice).
            disk.close()
            disk = None
            os.rmdir(os.path.join(tmp, "data"))
            os.symlink("disk", os.path.join(tmp, "data"))
        cases, owners, opened = set(), {}, 0
        for h in handlers:
            db = sqlite3.connect("file:%s?mode=ro" % h.database, uri=True)
            for (number,) in db.execute("SELECT case_number FROM cases"):
                cases.add(number)
                owners.setdefault(number, []).append(h.name)
            opened += db.execute("SELECT count(*) FROM events WHERE topic = 'case.opened'").fetchone()[0]
            db.close()
        twice = {n: o for n, o in owners.items() if len(o) > 1}
        if twice:
            problems.append("%d cases are held by more than one partition, e.g. %s" % (len(twice), list(twice.items())[:3]))
        missing = set(case_of.values()) - cases
        extra = cases - set(case_of.values())
        if missing:
            problems.append("no partition has a case for %d submissions, e.g. %s" % (len(missing), sorted(missing)[:5]))
        if extra:
            problems.append("the partitions have %d cases no intake gave, e.g. %s" % (len(extra), sorted(extra)[:5]))
        if opened != len(cases):
            problems.append("the partitions' streams have %d case.opened events for %d cases" % (opened, len(cases)))
        for r in reporters:
            if reported_cases != len(cases):
                problems.append("%s counts %d cases; the partitions hold %d" % (r.name, reported_cases, len(cases)))
        # 6: no contact in the clear anywhere on disk (contacts are sealed at rest, never published or logged).
        phones = {phone(d.index, n) for d in desks for n in range(d.sent) if n % 4}
        files, size, leaks = contacts_in_the_clear(tmp, phones)
        problems += leaks
        print("checked: no contact in the clear in %d files (%.1f MB): the databases, their write-ahead logs, the logs" % (files, size / 1e6))
        if not problems:
            print("checked: %d submissions stored once each (stream heads %s), %d acknowledged unchanged, "
                  "%d cases in %d partition(s), %d case.opened events" % (
                      len(case_of), ", ".join("%s %d" % kv for kv in heads.items()), len(acked), len(cases), len(handlers), opened))
    finally:
        # A second signal (`timeout` sends one to the script and one to its process group; a
        # second Ctrl-C) must not cut the clean-up short: it is bounded, and what it leaves
        # behind (namespaces, a mounted disk, a desk's command) would outlive the script.
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, signal.SIG_IGN)
        for s in services.values():
            if s.proc and s.proc.poll() is None:
                s.proc.kill()
                s.proc.wait()
        Desk.abandoned.set()
        for d in desks:
            if isinstance(d, FileDesk):
                d.join(5)
        if files_dir:
            shutil.rmtree(files_dir, ignore_errors=True)
        ctx.destroy(linger=0)
        if disk:
            disk.close()
        if hosts:
            hosts.mend()
            hosts.remove()
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
