"""test_exit_codes: every class of the exit-code table (docs/OPERATIONS.md
"Exit codes") for every binary: 0 success, 1 failure, 2 input rejected,
64 usage, 78 configuration. The aggregator takes no input of its own to
reject, so it never exits 2.
"""
import os
import socket

import crrtest

NOW = "2026-03-01T12:00:00Z"
ENV = {"CRRMON_NOW": NOW + "+"}


def start_aggregator(data_dir, wait=True, args=(), ingest="tcp://127.0.0.1:*"):
    """crrtest.start_aggregator; wait=False for a start that must fail (the handle's wait() is its exit
    code)."""
    agg = crrtest.start_aggregator(data_dir, env=ENV, args=args, ingest=ingest, wait=wait)
    return agg, agg.ep


def refused(data_dir, *args, ingest="tcp://127.0.0.1:*"):
    """(exit code, stderr) of an aggregator start that must fail."""
    agg, _ = start_aggregator(data_dir, wait=False, args=args, ingest=ingest)
    return agg.wait(30), agg.stderr()


def events(path, count=5, bad_line=False):
    r = crrtest.run([crrtest.binary("crrmon"), "generate", "--count", str(count), "--end", NOW,
                     "--borough", "E09000001"], env=ENV, check=0)
    with open(path, "w") as f:
        f.write(r.stdout)
        if bad_line:
            f.write("{not json\n")
    return path


def dead_endpoint():
    return f"tcp://127.0.0.1:{crrtest.free_port()}"


def test_aggregator_exit_codes():
    d = crrtest.tmpdir()
    # 64: a bad flag or value on the command line
    for args in (["--bogus"], ["--aggregator.group_max_ms=50"], ["--log-level", "loud"]):
        code, err = refused(os.path.join(d, "a"), *args)
        assert code == 64, (args, code, err)
    # 78: a config file that does not parse, reference data that is missing, a locked folder
    bad = crrtest.start_aggregator(os.path.join(d, "a"), env=ENV, config="[aggregator]\nthis line is not INI\n",
                                   wait=False)
    code, err = bad.wait(30), bad.stderr()
    assert code == 78 and f"{bad.config_path}:2" in err, (code, err)
    code, err = refused(os.path.join(d, "a"), f"--aggregator.ref_boroughs={d}/nosuch.csv")
    assert code == 78 and "nosuch.csv" in err, (code, err)
    data = os.path.join(d, "live")
    p, ep = start_aggregator(data)
    code, err = refused(data)
    assert code == 78 and "refusing to start" in err, (code, err)
    # 1: a runtime failure (the ingest port is taken)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        code, err = refused(os.path.join(d, "b"), ingest=f"tcp://127.0.0.1:{port}")
        assert code == 1 and "cannot bind" in err, (code, err)
    # 0: a clean stop
    assert p.term() == 0


def test_collector_exit_codes():
    d = crrtest.tmpdir()
    coll = crrtest.binary("crrmon-collector")
    good = events(os.path.join(d, "good.jsonl"))
    bad = events(os.path.join(d, "bad.jsonl"), bad_line=True)
    agg, ep = start_aggregator(os.path.join(d, "agg"))

    def run(name, *args):
        return crrtest.run([coll, "--data-dir", os.path.join(d, name), "--source-id", name, *args],
                           env=ENV, timeout=120)
    r = run("ok", "--aggregator", ep["ingest"], "--give-up-after", "60s", good)
    assert r.returncode == 0, (r.returncode, r.stderr)
    r = run("rej", "--aggregator", ep["ingest"], "--give-up-after", "60s", bad)
    assert r.returncode == 2, (r.returncode, r.stderr)
    r = run("gu", "--aggregator", dead_endpoint(), "--give-up-after", "1s", good)
    assert r.returncode == 1 and "giving up" in r.stderr, (r.returncode, r.stderr)
    for args in (["--bogus", good], ["--give-up-after", "30", good], ["--window=0", good]):
        r = run("usage", "--aggregator", ep["ingest"], *args)
        assert r.returncode == 64, (args, r.returncode, r.stderr)
    ini = os.path.join(d, "c.ini")
    with open(ini, "w") as f:
        f.write("[collector]\nmax_line = 10\n")
    r = run("cfg", "--aggregator", ep["ingest"], "--config", ini, good)
    assert r.returncode == 78 and f"{ini}:2" in r.stderr, (r.returncode, r.stderr)
    r = run("cfg", "--aggregator", ep["ingest"], "--collector.max_line=1M", "--max-frame=1M", good)
    assert r.returncode == 78 and "max_frame" in r.stderr, (r.returncode, r.stderr)
    assert agg.term() == 0


def test_crrmon_exit_codes():
    d = crrtest.tmpdir()
    cli = crrtest.binary("crrmon")
    good = events(os.path.join(d, "good.jsonl"))
    bad = events(os.path.join(d, "bad.jsonl"), bad_line=True)
    agg, ep = start_aggregator(os.path.join(d, "agg"))
    r = crrtest.run([cli, "send", "--quiet", "--aggregator", ep["ingest"], good], env=ENV, timeout=120)
    assert r.returncode == 0, (r.returncode, r.stderr)
    r = crrtest.run([cli, "send", "--quiet", "--aggregator", ep["ingest"], bad], env=ENV, timeout=120)
    assert r.returncode == 2, (r.returncode, r.stderr)
    r = crrtest.run([cli, "send", "--aggregator", dead_endpoint(), "--give-up-after", "1s", good], env=ENV,
                    timeout=120)
    assert r.returncode == 1, (r.returncode, r.stderr)
    for args in (["send", "--window", "0", good], ["query"], ["snapshot", "--timeout", "5"]):
        r = crrtest.run([cli, *args], env=ENV)
        assert r.returncode == 64, (args, r.returncode, r.stderr)
    r = crrtest.run([cli, "status", "--data-dir", os.path.join(d, "nothing-here")], env=ENV)
    assert r.returncode == 78, (r.returncode, r.stderr)
    assert agg.term() == 0


if __name__ == "__main__":
    crrtest.main()
