#!/usr/bin/env python3
"""Writes the golden vectors with Python's protobuf (an implementation independent of the Swift
code): each .bin file is one encoded message; the Swift tests build the same message and check
that both encodings agree byte for byte. Run from the repository root:
    python3 Tests/CodecTests/Fixtures/make_fixtures.py
"""
import os, sys
root = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(root, "..", "..", "..", "docs", "examples"))
from liaison.v1 import liaison_pb2 as pb

def feedback(with_contact=True):
    f = pb.SubmitFeedback(submission_id="sub-0001", kind=pb.FEEDBACK_KIND_COMPLAINT, channel=pb.CHANNEL_HOTLINE,
                          text="The officer at the desk was rude — 态度恶劣", unit="STN-01", officer_badge="PC-10472",
                          language="zh-CN", category="conduct")
    f.occurred_at.seconds = 1764000000
    f.occurred_at.nanos = 500
    if with_contact:
        f.contact.name = "Li Wei"
        f.contact.phone = "13800000000"
    return f

vectors = {}
r = pb.Request(request_id="req-1", version=1)
r.submit_feedback.CopyFrom(feedback())
vectors["submit_feedback_request"] = r

r = pb.Reply(request_id="req-1")
r.feedback_accepted.case_number = "L1-0000001"
r.feedback_accepted.tracking_token = "ABCDEFGHJKLMNPQR"
vectors["feedback_accepted_reply"] = r

r = pb.Reply(request_id="req-2")
r.error.code = pb.ERROR_CODE_INVALID_ARGUMENT
r.error.message = "text must not be empty"
r.error.field = "submit_feedback.text"
vectors["error_reply"] = r

r = pb.Request(request_id="req-3")
r.replay.stream = "handler-1"
r.replay.after_seq = 41
r.replay.limit = 100
r.replay.topic_prefixes.append("case.")
vectors["replay_request"] = r

r = pb.Request(request_id="req-4", version=1)
r.submit_batch.submissions.add().CopyFrom(feedback())
second = feedback(with_contact=False)
second.submission_id = "sub-0002"
second.text = ""
r.submit_batch.submissions.add().CopyFrom(second)
vectors["submit_batch_request"] = r

r = pb.Reply(request_id="req-4")
item = r.batch_accepted.items.add()
item.feedback_accepted.case_number = "L1-0000002"
item.feedback_accepted.tracking_token = "BCDEFGHJKLMNPQRS"
item.feedback_accepted.contact_from_text = 1
item = r.batch_accepted.items.add()
item.error.code = pb.ERROR_CODE_INVALID_ARGUMENT
item.error.message = "text must not be empty"
item.error.field = "submit_batch.submissions[1].text"
vectors["batch_accepted_reply"] = r

e = pb.Event(stream="intake-1", seq=1, event_id="e-0001", topic="feedback.received")
e.occurred_at.seconds = 1764000001
e.feedback_received.case_number = "L1-0000001"
e.feedback_received.feedback.CopyFrom(feedback(with_contact=False))
vectors["feedback_received_event"] = e

e = pb.Event(stream="handler-1", seq=7, event_id="e-0007", topic="case.opened")
e.occurred_at.seconds = 1764000001
c = e.case_opened
c.case_number = "L1-0000001"; c.unit = "SUPERVISION"; c.priority = "P1"
c.respond_by.seconds = 1764086401; c.resolve_by.seconds = 1764604801
c.kind = pb.FEEDBACK_KIND_COMPLAINT; c.channel = pb.CHANNEL_HOTLINE; c.category = "conduct"
c.source_stream = "intake-1"; c.source_seq = 1
vectors["case_opened_event"] = e

for name, msg in vectors.items():
    with open(os.path.join(root, name + ".bin"), "wb") as fh:
        fh.write(msg.SerializeToString(deterministic=True))
    print(name, msg.ByteSize(), "bytes")
