"""test_reload: SIGHUP re-reads the config file of both daemons.

Aggregator: a schedule added to the file starts firing and a sink added to
`sinks` starts writing, the log level changes, a changed key that needs a
restart (http) is logged and kept; a file that no longer parses, a value that
does not check and reference data that does not load are each refused with
one clear line naming the file, and the daemon runs on with what it had.
Collector: survives SIGHUP, applies the log level, logs a key that needs a
restart, refuses a broken file, and keeps delivering throughout.
Before this, SIGHUP's default action killed both (exit 129).
"""
import json
import os
import signal
import urllib.request

import crrtest

NOW = "2026-03-01T12:00:00Z"
ENV = {"CRRMON_NOW": NOW + "+"}


def write(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def start_aggregator(data, *extra):
    """crrtest.start_aggregator without --http (the config file may set it); returns (Proc, endpoints)."""
    agg = crrtest.start_aggregator(data, args=extra, env=ENV, http=None)
    return agg.proc, agg.ep


def stats(ep):
    with urllib.request.urlopen(f"http://{ep['http']}/api/v1/stats", timeout=5) as r:
        return json.load(r)


def hup_and_wait(proc, text, what):
    """Sends SIGHUP and waits until the n-th reload has been logged with text after it."""
    before = proc.stderr().count("reload: SIGHUP received")
    proc.p.send_signal(signal.SIGHUP)

    def logged():
        err = proc.stderr()
        if not proc.alive():
            raise AssertionError(f"{proc.name} exited {proc.p.returncode} on SIGHUP:\n{err[-2000:]}")
        parts = err.split("reload: SIGHUP received")
        return len(parts) - 1 > before and text in parts[-1] and ("reload: applied" in parts[-1]
                                                                   or "reload refused" in parts[-1])
    crrtest.wait_until(logged, timeout=30, what=what)
    return proc.stderr().split("reload: SIGHUP received")[-1]


def files(folder, ext):
    return sorted(f for f in os.listdir(folder) if f.endswith(ext)) if os.path.isdir(folder) else []


def test_aggregator_reload_applies_refuses_and_keeps():
    d = crrtest.tmpdir()
    data, ini, snaps = os.path.join(d, "data"), os.path.join(d, "agg.ini"), os.path.join(d, "data", "snapshots")
    write(ini, "[aggregator]\nhttp = 127.0.0.1:0\nschedules =\nsinks = jsonl\n")
    p, ep = start_aggregator(data, "--config", ini)
    assert files(snaps, ".jsonl") == []
    assert "schedule name=" not in p.stderr()

    # a schedule and a sink added, the log level raised, the HTTP address changed (restart)
    write(ini, "[aggregator]\nhttp = 127.0.0.1:1\nschedules = tick=every 1s\nsinks = jsonl,csv\n"
               "log_level = debug\n")
    tail = hup_and_wait(p, "reload: applied", "the first reload")
    assert "reload: aggregator.schedules = 'tick=every 1s' (was '')" in tail, tail
    assert "reload: aggregator.sinks = 'jsonl,csv' (was 'jsonl')" in tail, tail
    assert "reload: aggregator.log_level = 'debug' (was 'info')" in tail, tail
    assert ("aggregator.http changed to '127.0.0.1:1' but needs a restart; keeping '127.0.0.1:0'"
            in tail), tail
    assert "3 key(s) changed, 1 kept until a restart" in tail, tail
    crrtest.wait_until(lambda: files(snaps, ".csv") and files(snaps, ".jsonl") and "schedule=tick" in p.stderr(),
                       timeout=30, what="the new schedule writing through both sinks")
    assert stats(ep)["snapshots"] >= 1  # the HTTP API still answers on the address it had

    # refused whole: a file that does not parse, a bad value, reference data that does not load
    refused = [
        ("[aggregator]\nschedules = tick=every 1s\nthis line is not INI\n", f"{ini}:3"),
        ("[aggregator]\nschedules = tick=weekly 02:00\n", f"{ini}:2"),
        ("[aggregator]\nschedules =\nref_population = " + os.path.join(d, "nosuch.csv") + "\n",
         "cannot load reference data"),
        ("[aggregator]\nschedules =\nsinks = jsonl,nosuch\n", "no sink named 'nosuch'"),
    ]
    for text, why in refused:
        write(ini, text)
        tail = hup_and_wait(p, "reload refused", f"the refusal of {why}")
        assert why in tail and "keeping the running configuration" in tail, (why, tail)
        assert "reload: applied" not in tail, tail
    # still the old configuration: the schedule keeps firing, both sinks keep writing
    n = len(files(snaps, ".csv"))
    crrtest.wait_until(lambda: len(files(snaps, ".csv")) > n, timeout=30, what="the kept schedule firing")
    assert stats(ep)["snapshots"] > n - 1

    # a good file again is applied: the schedule removed, no more snapshots after it
    write(ini, "[aggregator]\nhttp = 127.0.0.1:0\nschedules =\nsinks = jsonl\n")
    tail = hup_and_wait(p, "reload: applied", "the last reload")
    assert "reload: aggregator.schedules = '' (was 'tick=every 1s')" in tail, tail
    assert p.term() == 0


def test_aggregator_reload_without_config_file_changes_nothing():
    d = crrtest.tmpdir()
    p, ep = start_aggregator(os.path.join(d, "data"), "--http", "127.0.0.1:0")
    tail = hup_and_wait(p, "reload: applied", "a reload without --config")
    assert "0 key(s) changed, 0 kept until a restart" in tail, tail
    assert stats(ep)["frames"] == 0
    assert p.term() == 0


def test_aggregator_reload_reads_reference_data():
    """Population added to the file by a reload: rates appear, and `crrmon query` (which answers
    with the reference data the aggregator recorded in its store) shows them too."""
    d = crrtest.tmpdir()
    data, ini = os.path.join(d, "data"), os.path.join(d, "agg.ini")
    write(ini, "[aggregator]\nschedules =\nref_population =\n")
    p, ep = start_aggregator(data, "--config", ini, "--http", "127.0.0.1:0")
    events = os.path.join(d, "ev.jsonl")
    with open(events, "w") as f:
        f.write(crrtest.run([crrtest.binary("crrmon"), "generate", "--count", "200", "--types", "stop_search",
                             "--borough", "E09000022", "--end", NOW, "--days", "60"], env=ENV, check=0).stdout)
    crrtest.run([crrtest.binary("crrmon"), "send", "--quiet", "--aggregator", ep["ingest"], events], env=ENV,
                check=0)

    def rate():
        r = crrtest.run([crrtest.binary("crrmon"), "query", "--data-dir", data, "--json", "--borough", "E09000022",
                         "--window", "30", "--indicator", "stop_search.rate_per_1000"], env=ENV, check=0)
        rows = [json.loads(line) for line in r.stdout.splitlines() if not json.loads(line).get("dims")]
        assert len(rows) == 1, r.stdout
        return rows[0].get("value")
    assert rate() is None  # no population: the rate is absent, never zero
    pop = os.path.join(crrtest.SRC, "data", "population_ethnicity_census2021.csv")
    write(ini, f"[aggregator]\nschedules =\nref_population = {pop}\n")
    tail = hup_and_wait(p, "reload: applied", "the reload with population")
    assert f"reload: aggregator.ref_population = '{pop}' (was '')" in tail, tail
    assert rate() > 0
    assert p.term() == 0


def test_collector_survives_sighup():
    d = crrtest.tmpdir()
    agg, ep = start_aggregator(os.path.join(d, "agg"), "--http", "127.0.0.1:0")
    ini = os.path.join(d, "coll.ini")
    write(ini, "[collector]\nlog_level = info\n")
    c = crrtest.Proc([crrtest.binary("crrmon-collector"), "--data-dir", os.path.join(d, "coll"), "--source-id",
                      "hup", "--aggregator", ep["ingest"], "--config", ini, "-"], env=ENV, stdin="pipe",
                     name="collector")
    lines = crrtest.run([crrtest.binary("crrmon"), "generate", "--count", "30", "--end", NOW], env=ENV,
                        check=0).stdout.splitlines(keepends=True)

    def feed(chunk, total):
        c.p.stdin.write("".join(chunk).encode())
        c.p.stdin.flush()
        crrtest.wait_until(lambda: stats(ep)["applied"] == total, timeout=30, what=f"{total} events applied")
    feed(lines[:10], 10)

    write(ini, "[collector]\nlog_level = debug\nmax_line = 128k\ngive_up_after = 1h\n")
    tail = hup_and_wait(c, "reload: applied", "the collector's reload")
    assert "reload: collector.log_level = 'debug' (was 'info')" in tail, tail
    assert "reload: collector.give_up_after = '1h' (was '0')" in tail, tail
    assert "collector.max_line changed to '128k' but needs a restart; keeping '64k'" in tail, tail
    feed(lines[10:20], 20)

    write(ini, "[collector]\nlog_level = chatty\n")
    tail = hup_and_wait(c, "reload refused", "the collector's refusal")
    assert f"{ini}:2" in tail and "log level" in tail, tail
    feed(lines[20:], 30)
    assert c.term() == 0
    assert agg.term() == 0


if __name__ == "__main__":
    crrtest.main()
