"""test_backpressure: docs/DESIGN.md's bound on the aggregator's memory. A sender
that floods frames faster than the aggregator can take them (every frame here
is a 1 MiB malformed one, each answered and kept as a reject in its own
durable transaction, so the aggregator is the slow side) must be pushed back
by ZeroMQ's high-water marks, not buffered inside the aggregator: its resident
memory stays far below what was sent, every frame is still answered, and good
data is accepted afterwards. With the receive HWM at 1000 frames the same
flood is held in the aggregator's memory and this test fails.
"""
import json
import os
import time
import urllib.request

import zmq

import crrtest

FRAMES = 600
FRAME = b"\xff" * (1 << 20)  # 1 MiB: not a Batch, and under max_msg_size (4M)
EXTRA = os.environ.get("CRR_BP_EXTRA", "").split()  # e.g. "--aggregator.rcvhwm=1000" shows the test failing
LIMIT_MB = 200  # sent: 600 MiB; allowed in the aggregator: its base + about 64 frames of slack


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise AssertionError("no VmRSS")


def test_flood_is_pushed_back_not_buffered():
    d = crrtest.tmpdir("crr-bp-")
    # under AddressSanitizer, freed memory waits in a quarantine (256 MiB) that
    # would count as resident here: make it reuse freed blocks at once
    env = {"ASAN_OPTIONS": ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"), "quarantine_size_mb=0"]))}
    agg = crrtest.start_aggregator(d, args=EXTRA, env=env)
    ep = agg.ep
    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.SNDHWM, 100000)  # the sender is willing to queue everything
    s.connect(ep["ingest"])
    poller = zmq.Poller()
    poller.register(s, zmq.POLLIN | zmq.POLLOUT)
    sent = acks = 0
    peak = 0.0
    deadline = time.monotonic() + 240
    while acks < FRAMES:
        assert time.monotonic() < deadline, f"only {acks} of {FRAMES} answered"
        events = dict(poller.poll(50))
        if sent < FRAMES and events.get(s, 0) & zmq.POLLOUT:
            s.send(FRAME, zmq.NOBLOCK)
            sent += 1
        while True:
            try:
                s.recv(zmq.NOBLOCK)
                acks += 1
            except zmq.Again:
                break
        peak = max(peak, rss_mb(agg.pid))
    print(f"peak RSS {peak:.0f} MiB", flush=True)
    assert peak < LIMIT_MB, f"aggregator RSS peaked at {peak:.0f} MiB while {FRAMES} MiB were sent"
    with open(os.path.join(d, "endpoints.json")) as f:
        http = json.load(f)["http"]
    with urllib.request.urlopen(f"http://{http}/api/v1/stats", timeout=10) as r:
        st = json.loads(r.read())
    assert st["malformed"] == FRAMES and st["frames"] == FRAMES, st
    s.close()
    ctx.term()
    assert agg.term() == 0


if __name__ == "__main__":
    crrtest.main()
