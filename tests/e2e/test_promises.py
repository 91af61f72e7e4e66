"""test_promises: promises that a one-line slip could break without any other
test noticing, each checked from outside with real processes.

  - durable before Ack: the aggregator runs under `strace -f` (libzmq does its
    socket IO on its own threads) and one batch is sent by a Python DEALER; a
    data sync (fdatasync, fsync or msync) must happen after the batch is read
    from the socket and before the Ack is written to it. Opening the store
    with MDB_NOSYNC removes every such call (tests/unit/test_durability.c
    checks the environment flags themselves).
"""
import glob
import json
import os
import re
import shutil
import signal
import sys

import zmq

import crrtest

NOW = "2026-03-01T12:00:00Z"
NOW_SEC = 1772366400  # 2026-03-01T12:00:00Z
_mods = {}


def pb():
    """The generated protobuf modules (enums, event, ingest), built once per run."""
    if not _mods:
        out = crrtest.tmpdir("crrpb-")
        proto = os.path.join(crrtest.SRC, "proto")
        crrtest.run(["protoc", f"--python_out={out}", "-I", proto, "-I", "/usr/include"] +
                    sorted(glob.glob(os.path.join(proto, "crrmon", "v1", "*.proto"))), check=0)
        sys.path.insert(0, out)
        from crrmon.v1 import enums_pb2, event_pb2, ingest_pb2
        _mods.update(enums=enums_pb2, event=event_pb2, ingest=ingest_pb2)
    return _mods


def endpoints(data_dir, proc):
    """DATA_DIR/endpoints.json once the aggregator wrote it (raises if it died)."""
    if not proc.alive():
        raise AssertionError(f"aggregator exited {proc.p.returncode}: {proc.stderr()}")
    with open(os.path.join(data_dir, "endpoints.json")) as f:
        return json.load(f)


def start_aggregator(data_dir, env, wrap=()):
    """crrmon-aggregator on random loopback ports (optionally under a wrapper such as strace)."""
    proc = crrtest.Proc([*wrap, crrtest.binary("crrmon-aggregator"), "--data-dir", data_dir,
                         "--ingest", "tcp://127.0.0.1:*", "--feed", "tcp://127.0.0.1:*",
                         "--http", "127.0.0.1:0"], env=env, name="aggregator")
    ep = crrtest.wait_until(lambda: endpoints(data_dir, proc), timeout=60, what="endpoints.json")
    return proc, ep


def stop_search(seq, source, when):
    m = pb()
    e = m["event"].Event(seq=seq, borough="E09000022", source_id=source)
    e.occurred_at.seconds = when
    e.stop_search.count = 1
    e.stop_search.ethnicity = m["enums"].Ethnicity.Value("ETHNICITY_BLACK")
    e.stop_search.outcome = m["enums"].Outcome.Value("OUTCOME_ARREST")
    return e


# ------------------------------------------------------------------ durable before Ack

SYSCALL = re.compile(r"^(\d+)\s+[\d.]+\s+(?:<\.\.\. )?(\w+)(?: resumed>|\()(.*)$")


def syncs_between_batch_and_ack(trace_path, marker):
    """From an `strace -f -ttt` log: (sync calls strictly between the recvfrom that
    carried the batch and the sendto that carried its Ack, the two lines)."""
    with open(trace_path, errors="replace") as f:
        lines = f.read().splitlines()
    recv = send = None
    pending = {}  # pid -> syscall name of an <unfinished ...> line
    events = []   # (index, name, completed line text)
    for i, line in enumerate(lines):
        m = SYSCALL.match(line)
        if not m:
            continue
        pid, name, rest = m.group(1), m.group(2), m.group(3)
        if "<unfinished ...>" in rest:
            pending[pid] = (name, rest)
            continue
        if line.split(None, 2)[2].startswith("<..."):
            name0, head = pending.pop(pid, (name, ""))
            rest = head.replace("<unfinished ...>", "") + rest
            name = name0
        events.append((i, name, rest))
    for i, name, rest in events:
        if recv is None and name in ("recvfrom", "recvmsg", "read") and marker in rest:
            recv = i
        elif recv is not None and name in ("sendto", "sendmsg", "write") and marker in rest:
            send = i
            break
    assert recv is not None, f"no recvfrom carrying {marker} in the trace"
    assert send is not None, f"no sendto carrying {marker} (the Ack) after the batch in the trace"
    syncs = [(i, name) for i, name, _ in events if recv < i < send and name in ("fdatasync", "fsync", "msync")]
    return syncs, lines[recv][:160], lines[send][:160]


def test_data_sync_between_batch_and_ack():
    if not shutil.which("strace"):
        raise AssertionError("strace is not installed (deploy/deps.sh installs it for the tests)")
    d = crrtest.tmpdir("crragg-")
    trace = os.path.join(crrtest.tmpdir("crrtrace-"), "agg.strace")
    wrap = ["strace", "-f", "-ttt", "-s", "512", "-o", trace,
            "-e", "trace=fdatasync,fsync,msync,recvfrom,recvmsg,sendto,sendmsg,read,write"]
    proc, ep = start_aggregator(d, {"CRRMON_NOW": NOW}, wrap)
    source = "syncprobe-7f3a"
    b = pb()["ingest"].Batch(source_id=source, epoch=77)
    b.events.append(stop_search(1, source, NOW_SEC - 7200))
    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(ep["ingest"])
    try:
        s.send(b.SerializeToString())
        assert s.poll(60000), "no Ack within 60 s"
        ack = pb()["ingest"].Ack()
        ack.ParseFromString(s.recv())
    finally:
        s.close()
    assert (ack.source_id, ack.epoch, ack.durable_seq, len(ack.rejected)) == (source, 77, 1, 0), ack
    # SIGTERM to strace would detach it and leave the aggregator running: stop
    # the aggregator itself (its pid is in endpoints.json); strace exits with its status
    os.kill(ep["pid"], signal.SIGTERM)
    assert proc.wait(60) == 0, proc.stderr()
    syncs, recv_line, send_line = syncs_between_batch_and_ack(trace, source)
    assert len(syncs) >= 1, ("no fdatasync/fsync/msync between the batch's arrival and its Ack:\n"
                             f"  {recv_line}\n  {send_line}")


if __name__ == "__main__":
    crrtest.main()
