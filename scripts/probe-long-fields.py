#!/usr/bin/env python3
"""Sends intake one request per field with that field ~240 KB long (ASCII, one character of
120,000 combining marks, or 80,000 full-width letters) and prints, for each, the round trip and the size of the reply.

What it shows: refusing a value of any size costs intake's request thread about as much as reading
it, and the reply names the field without sending the value back whole.

    export LIAISON_OPERATOR_SECRET=probe-secret-0123456789
    liaison-intake --topology T --data-dir D &       # a scratch instance, not production
    python3 scripts/probe-long-fields.py tcp://127.0.0.1:7101

Needs pyzmq and protobuf (pip); reads the generated module in docs/examples.
"""
import os
import sys
import time

import zmq

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "examples"))
from liaison.v1 import liaison_pb2 as pb  # noqa: E402

endpoint = sys.argv[1] if len(sys.argv) > 1 else "tcp://127.0.0.1:7101"
OPERATOR = os.environ.get("LIAISON_OPERATOR_SECRET", "")
context = zmq.Context()


def call(request, timeout_ms=10_000):
    socket = context.socket(zmq.REQ)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(endpoint)
    data = request.SerializeToString()
    start = time.perf_counter()
    socket.send(data)
    if socket.poll(timeout_ms) == 0:
        socket.close()
        return None, time.perf_counter() - start, len(data)
    reply = pb.Reply()
    reply.ParseFromString(socket.recv())
    elapsed = time.perf_counter() - start
    socket.close()
    return reply, elapsed, len(data)


def request(**fields):
    r = pb.Request(version=1, request_id="probe")
    for name, value in fields.items():
        target, _, leaf = name.rpartition(".")
        message = r
        for part in target.split(".") if target else []:
            message = getattr(message, part)
        if isinstance(value, list):
            getattr(message, leaf).extend(value)
        else:
            setattr(message, leaf, value)
    return r


def submission(**fields):
    base = {"submission_id": "probe-%f" % time.time(), "kind": 1, "channel": 1, "text": "hello there", "unit": "STN-EAST-01"}
    base.update(fields)
    return request(**{"submit_feedback." + k: v for k, v in base.items()})


N = 240_000
# "wide": full-width letters (3 bytes each), which intake makes ASCII where a field is a code, a
# number or an address, but only up to a bound of that field's size.
for label, big in (("ascii", "X" * N), ("marks", "S" + "\u0301" * (N // 2)), ("wide", "\uff38" * (N // 3))):
    cases = {
        "submission_id": submission(submission_id=big),
        "text": submission(text=big),
        "unit": submission(unit=big),
        "address": submission(address=big, unit=""),
        "officer_badge": submission(officer_badge=big),
        "language": submission(language=big),
        "category": submission(category=big),
        "contact.name": submission(**{"contact.name": big, "contact.phone": "13800000000"}),
        "contact.phone": submission(**{"contact.phone": big}),
        "contact.email": submission(**{"contact.email": big}),
        "status case_number": request(**{"get_feedback_status.case_number": big, "get_feedback_status.tracking_token": "ABCD"}),
        "status tracking_token": request(**{"get_feedback_status.case_number": "L1-0000001", "get_feedback_status.tracking_token": big}),
        "contact credential": request(credential=big, **{"get_contact.case_number": "L1-0000001"}),
        # With the operator secret of $LIAISON_OPERATOR_SECRET (the scratch intake's): who and why.
        "contact actor": request(credential=OPERATOR, **{"get_contact.case_number": "L1-0000001", "get_contact.actor": big,
                                                      "get_contact.reason": "probe"}),
        "contact reason": request(credential=OPERATOR, **{"get_contact.case_number": "L1-0000001", "get_contact.actor": "probe",
                                                       "get_contact.reason": big}),
        "replay stream": request(**{"replay.stream": big}),
    }
    for name, r in cases.items():
        reply, elapsed, size = call(r)
        if reply is None:
            what = "no reply"
        elif reply.HasField("error"):
            what = "%s on %s" % (pb.ErrorCode.Name(reply.error.code), reply.error.field or "-")
        else:
            what = reply.WhichOneof("result")
        print(f"{label:5s} {name:22s} {size:7d} B sent  {elapsed * 1000:7.1f} ms  reply {len(reply.SerializeToString()) if reply else 0:6d} B  {what}")

# Texts intake accepts, at the 4,000-character limit, built to cost the most where intake takes
# phone numbers and e-mail addresses out of them (each found, sealed and replaced by a marker),
# beside a text with none. Every one is a new submission, stored.
for name, text in (("text, no contact", "The officer was rude. " * 181),
                   ("text, 444 phones", "1234567, " * 444),
                   ("text, 571 e-mails", "a@b.cn " * 571),
                   ("text, digit runs", "1-2-3-4-5-6-7-8-9-0-" * 200),
                   ("text, at signs", "@" * 4000)):
    reply, elapsed, size = call(submission(text=text[:4000]))
    what = "no reply" if reply is None else ("%s on %s" % (pb.ErrorCode.Name(reply.error.code), reply.error.field) if reply.HasField("error")
                                           else "accepted, %d taken from the text" % reply.feedback_accepted.contact_from_text)
    print(f"accepted {name:22s} {size:7d} B sent  {elapsed * 1000:7.1f} ms  reply {len(reply.SerializeToString()) if reply else 0:6d} B  {what}")
