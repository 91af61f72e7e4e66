"""test_config_keys: every key a binary's --help lists works on the command line.

For crrmon-aggregator and crrmon-collector the test reads the option table
from --help (flag or --section.key, type, default, range, INI name), gives
every key a value other than its default, once as `--section.key=value` and
once through the named flag where there is one, and checks that
`--check-config` prints each value back under its INI section. Sections with
a dot (`[sink.csv]`) included. For `crrmon`, every flag each subcommand's
--help lists is accepted (never "unknown option").
"""
import os
import re

import crrtest

LINE = re.compile(r"^  (--\S+)\s+(text|int|bool|number|size|duration)\s+.*\(default: (.*?)"
                  r"(?:; range (\S+)\.\.(\S+))?; INI \[(\S+)\] (\S+?)(?:; also --\S+)?\)$")


def options(binary):
    """[(flag, type, default, lo, hi, section, key)] as --help lists them."""
    r = crrtest.run([crrtest.binary(binary), "--help"], check=0)
    opts = [m.groups() for m in map(LINE.match, r.stdout.splitlines()) if m]
    assert len(opts) >= 10, r.stdout
    return opts


def value_for(key, typ, default, lo, hi, tmp):
    """A valid value other than the default (texts that must mean something are chosen by name)."""
    text = {
        "data_dir": os.path.join(tmp, "data"), "snapshot_dir": os.path.join(tmp, "snap"),
        "dir": os.path.join(tmp, "sinkdir"), "ingest": "tcp://127.0.0.1:*", "feed": "tcp://127.0.0.1:*",
        "http": "127.0.0.1:0", "log_level": "debug", "log_format": "json", "windows": "7,28", "schedules": "hourly=every 1h",
        "sinks": "jsonl,csv", "timezone": "UTC", "ref_boroughs": "", "ref_population": "", "aggregator": "tcp://127.0.0.1:9",
        "source_id": "walker", "final_line": "accept",
    }
    if key == "bucket_max_age":  # must keep the longest window (28d above)
        return "60d"
    if key == "type":  # a sink instance's type: the file sinks swap (same keys), others stay
        return {"jsonl": "csv", "csv": "jsonl"}.get(default, default)
    if typ == "text":
        return text.get(key, "walk-value")
    if typ == "bool":
        return "true" if key == "insecure" else ("false" if default == "true" else "true")
    if lo is not None:
        return lo if lo != default else hi
    return {"int": "7", "number": "0.25", "size": "3k", "duration": "7s"}[typ]


def dump(binary, args):
    r = crrtest.run([crrtest.binary(binary), *args, "--check-config"])
    assert r.returncode == 0, (binary, args, r.returncode, r.stderr)
    out, section = {}, None
    for line in r.stdout.splitlines():
        if line.startswith("["):
            section = line[1:-1]
        elif " = " in line:
            k, v = line.split(" = ", 1)
            out[(section, k)] = v
    return out


def walk(binary):
    tmp = crrtest.tmpdir()
    opts = options(binary)
    want = {}
    dotted, named = [], []
    for flag, typ, default, lo, hi, section, key in opts:
        v = value_for(key, typ, default, lo, hi, tmp)
        want[(section, key)] = v
        dotted.append(f"--{section}.{key}={v}")
        if flag != f"--{section}.{key}":
            named += [flag, v] if typ != "bool" else [f"{flag}={v}"]
        else:
            named.append(f"--{section}.{key}={v}")
    for args in (dotted, named):
        got = dump(binary, args)
        for sk, v in want.items():
            assert got.get(sk) == v, (binary, sk, v, got.get(sk), args)
    assert any("." in s for s, _ in want) or binary != "crrmon-aggregator"
    return want


def test_aggregator_every_key():
    want = walk("crrmon-aggregator")
    assert ("sink.csv", "dir") in want and ("sink.jsonl", "dir") in want, want


def test_collector_every_key():
    want = walk("crrmon-collector")
    assert ("sender", "window") in want and ("spool", "max_size") in want, want


def test_unknown_dotted_key_is_named():
    r = crrtest.run([crrtest.binary("crrmon-aggregator"), "--data-dir", crrtest.tmpdir(),
                     "--sink.csv.nope=1", "--check-config"])
    assert r.returncode != 0 and "sink.csv.nope" in r.stderr, (r.returncode, r.stderr)


def test_crrmon_every_flag_accepted():
    r = crrtest.run([crrtest.binary("crrmon"), "--help"], check=0)
    cmds = [m.group(1) for m in re.finditer(r"^  ([a-z]+) ", r.stdout, re.M)]
    assert "send" in cmds and "snapshot" in cmds, r.stdout
    for cmd in cmds:
        h = crrtest.run([crrtest.binary("crrmon"), cmd, "--help"], check=0).stdout
        flags = re.findall(r"^\s+(--[a-z][a-z-]*)(?:[ =]([A-Z][A-Z:_]*|[a-z],[a-z]))?\s", h, re.M)
        assert flags, (cmd, h)
        for flag, meta in flags:
            if flag == "--help":
                continue
            args = [cmd, flag] + (["x"] if meta else [])
            r = crrtest.run([crrtest.binary("crrmon"), *args], timeout=60)
            assert "unknown option" not in r.stderr, (args, r.stderr)


def test_bare_numbers_need_a_unit():
    """A duration or size without a unit is a usage error that names the unit to add; 0 is off."""
    d = crrtest.tmpdir()
    agg, coll, cli = (crrtest.binary(b) for b in ("crrmon-aggregator", "crrmon-collector", "crrmon"))
    cases = [
        ([agg, "--data-dir", d, "--aggregator.group_max_ms=50", "--check-config"], "50ms, 50s"),
        ([agg, "--data-dir", d, "--aggregator.map_size=65536", "--check-config"], "65536k"),
        ([coll, "--data-dir", d, "--source-id", "x", "--give-up-after", "30", "--check-config"], "30s"),
        ([coll, "--data-dir", d, "--source-id", "x", "--spool-size=1024", "--check-config"], "1024M"),
        ([cli, "send", "--give-up-after", "30", "x.jsonl"], "30ms, 30s"),
        ([cli, "snapshot", "--http", "127.0.0.1:1", "--timeout", "5"], "5s"),
    ]
    for args, hint in cases:
        r = crrtest.run(args)
        assert r.returncode == 64, (args, r.returncode, r.stderr)
        assert "no unit" in r.stderr and hint in r.stderr, (args, r.stderr)
    # 0 means off, units are accepted, windows take bare days and 30d alike
    out = crrtest.run([agg, "--data-dir", d, "--aggregator.snapshot_max_age=0", "--aggregator.windows=7,30d",
                       "--aggregator.map_size=64M", "--check-config"], check=0).stdout
    assert "snapshot_max_age = 0\n" in out and "windows = 7,30d\n" in out and "map_size = 64M\n" in out, out
    r = crrtest.run([cli, "query", "--data-dir", d, "--window", "30h"])
    assert r.returncode == 64 and "--window" in r.stderr, r.stderr


if __name__ == "__main__":
    crrtest.main()
