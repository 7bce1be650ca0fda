#!/usr/bin/env python3
"""Floods intake with submissions from one caller (one phone number) and prints the acknowledged
rate every window: what one citizen, or one abuser, sending thousands of times costs everybody,
since every submission waits for the same request thread.

    liaison-intake --topology T --data-dir D &       # a scratch instance, not production
    python3 scripts/probe-one-caller.py ipc:///tmp/x/in.req 200000 same        # short texts
    python3 scripts/probe-one-caller.py ipc:///tmp/x/in.req 8000 same long     # 3,990 characters, each different
    python3 scripts/probe-one-caller.py ipc:///tmp/x/in.req 200000 different   # a new caller each time

One DEALER socket, 128 requests in flight. Needs pyzmq and protobuf (pip); reads the generated
module in docs/examples.
"""
import os
import random
import sys
import time

import zmq

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "examples"))
from liaison.v1 import liaison_pb2 as pb  # noqa: E402

endpoint, total, same = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "same"
long_texts = len(sys.argv) > 4 and sys.argv[4] == "long"
random.seed(7)
words = ["w%05d" % i for i in range(20000)]


def request(i):
    r = pb.Request(version=1, request_id=str(i))
    f = r.submit_feedback
    f.submission_id = "one-caller-%d-%d" % (os.getpid(), i)
    f.kind = pb.FEEDBACK_KIND_PRAISE
    f.channel = pb.CHANNEL_HOTLINE
    f.unit = "STN-EAST-01"
    if long_texts:
        f.text = " ".join(random.choice(words) for _ in range(660))[:3990]
    else:
        f.text = "Thank you, message number %d, for the help at the crossing" % i
    f.contact.phone = "13800000000" if same else "138%08d" % i
    return r.SerializeToString()


requests = [request(i) for i in range(total)]
socket = zmq.Context().socket(zmq.DEALER)
socket.connect(endpoint)
in_flight, window = 128, (1000 if long_texts else 10000)
sent = answered = 0
start = window_start = time.perf_counter()
while answered < total:
    while sent < total and sent - answered < in_flight:
        socket.send_multipart([b"", requests[sent]])
        sent += 1
    reply = pb.Reply()
    reply.ParseFromString(socket.recv_multipart()[-1])
    if reply.WhichOneof("result") != "feedback_accepted":
        sys.exit("not accepted: %s" % reply)
    answered += 1
    if answered % window == 0:
        now = time.perf_counter()
        print("%7d  %8.0f/s" % (answered, window / (now - window_start)), flush=True)
        window_start = now
print("%d in %.1f s" % (total, time.perf_counter() - start))
