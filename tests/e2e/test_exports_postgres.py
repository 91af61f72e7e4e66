"""Exports to a real PostgreSQL (sinks/postgres.c).

The test starts a throwaway cluster (initdb + pg_ctl from Debian's postgresql,
installed by deploy/deps.sh) on a free port in a temporary folder under the
build folder, as the unprivileged user `nobody` when run as root, and stops it
at the end. Checked: the tables are created; a snapshot's rows equal the
JSON Lines file of the same snapshot and `crrmon query` at its as_of;
PostgreSQL stopped across three snapshots and started again gets all three,
once each, in snapshot order; kill -9 of the aggregator between a write and
its outcome record (crash point agg_delivery_after_write) leaves no duplicate
rows and loses no snapshot after the restart.
"""
import atexit
import glob
import json
import os
import pwd
import shutil
import tempfile

import crrtest
from test_exports import Agg, NOW

BOROUGH = "E09000022"
PGBIN = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))


class Pg:
    """A throwaway PostgreSQL cluster on 127.0.0.1:port (trust auth, user crr)."""

    def __init__(self):
        assert PGBIN, "PostgreSQL is not installed: run deploy/deps.sh"
        self.bin = os.path.dirname(PGBIN[-1])
        # in /tmp, not under the build folder: the checkout may sit in a folder
        # only its owner can enter (mktemp -d), and the cluster runs as nobody
        self.base = tempfile.mkdtemp(prefix="crr-pgtest-", dir="/tmp")
        crrtest._tmpdirs.append(self.base)
        self.run_as = []
        if os.getuid() == 0:  # initdb refuses root: run the cluster as nobody
            nobody = pwd.getpwnam("nobody")
            os.chown(self.base, nobody.pw_uid, nobody.pw_gid)
            self.run_as = ["runuser", "-u", "nobody", "--"]
        self.data = os.path.join(self.base, "data")
        self.port = crrtest.free_port()
        self._pg(["initdb", "-D", self.data, "-A", "trust", "-U", "crr", "-E", "UTF8", "--no-sync"])
        self.running = False
        atexit.register(self.stop)

    def _pg(self, args, check=0):
        return crrtest.run(self.run_as + [os.path.join(self.bin, args[0])] + args[1:], check=check,
                           timeout=120)

    def start(self):
        self._pg(["pg_ctl", "-D", self.data, "-l", os.path.join(self.base, "log"), "-w", "-o",
                  f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off",
                  "start"])
        self.running = True

    def stop(self):
        if self.running:
            self._pg(["pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop"])
            self.running = False

    @property
    def conninfo(self):
        return f"host=127.0.0.1 port={self.port} user=crr dbname=postgres connect_timeout=5"

    def sql(self, q):
        r = crrtest.run([os.path.join(self.bin, "psql"), "-h", "127.0.0.1", "-p", str(self.port),
                         "-U", "crr", "-d", "postgres", "-At", "-F", "\t", "-c", q], check=0)
        return [l.split("\t") for l in r.stdout.splitlines()]


def send_events(agg):
    r = crrtest.run([crrtest.binary("crrmon"), "generate", "--seed", "3", "--borough", BOROUGH,
                     "--count", "300", "--types", "stop_search", "--end", NOW, "--days", "30"],
                    check=0)
    path = os.path.join(agg.dir, "..", "in.jsonl")
    with open(path, "w") as f:
        f.write(r.stdout)
    crrtest.run([crrtest.binary("crrmon"), "send", "--aggregator", agg.ep["ingest"], path],
                env={"CRRMON_NOW": NOW}, check=0)


def pg_rows(pg, sid):
    """The values of snapshot sid as {(indicator, borough, window, dims json): value or None}."""
    rows = pg.sql("SELECT indicator, borough, window_days, dims::text, value FROM "
                  f"crrmon_indicator_value WHERE snapshot_id = '{sid}'")
    return {(i, b, int(w), json.dumps(json.loads(d), sort_keys=True)): (float(v) if v else None)
            for i, b, w, d, v in rows}


def jsonl_rows(path):
    with open(path) as f:
        lines = [json.loads(l) for l in f][1:]
    return {(l["indicator"], l["borough"], l["windowDays"], json.dumps(l.get("dims", {}), sort_keys=True)):
            l.get("value") for l in lines}


def test_postgres_outage_crash_and_values():
    pg = Pg()
    pg.start()
    d = crrtest.tmpdir("crr-pg-")
    data, snaps, cinfo = os.path.join(d, "data"), os.path.join(d, "snaps"), os.path.join(d, "pg.conn")
    with open(cinfo, "w") as f:
        f.write(pg.conninfo + "\n")
    os.chmod(cinfo, 0o600)
    args = ["--aggregator.sinks=jsonl,postgres", "--aggregator.snapshot_dir=" + snaps,
            "--sink.postgres.conninfo_file=" + cinfo, "--aggregator.delivery_max_attempts=0",
            "--aggregator.delivery_backoff=50ms", "--aggregator.delivery_backoff_max=500ms"]
    a = Agg(data, args)
    send_events(a)
    first = a.snapshot()
    assert [x["state"] for x in first["deliveries"]] == ["delivered", "delivered"], first
    assert pg.sql(f"SELECT id, schedule, as_of = '{NOW}'::timestamptz FROM crrmon_snapshot") == \
        [[first["id"], "on-demand", "t"]]
    got = pg_rows(pg, first["id"])
    assert len(got) == first["values"], (len(got), first["values"])
    assert got == jsonl_rows(os.path.join(snaps, crrtest.snapshot_file(first, "jsonl")))
    q = crrtest.run([crrtest.binary("crrmon"), "query", "--data-dir", data, "--json", "--as-of", NOW,
                     "--borough", BOROUGH, "--indicator", "stop_search.count"],
                    env={"CRRMON_NOW": NOW}, check=0)
    want = [json.loads(l) for l in q.stdout.splitlines()]
    assert want and all(got[("stop_search.count", BOROUGH, w["windowDays"],
                             json.dumps(w.get("dims", {}), sort_keys=True))] == w.get("value")
                        for w in want), want
    assert any(w.get("value") for w in want)
    # PostgreSQL stopped across three snapshots, then started: all three, once each, in order
    pg.stop()
    ids = [a.snapshot()["id"] for _ in range(3)]
    crrtest.wait_until(lambda: a.get("/api/v1/stats")["deliveries"]["postgres"]["pending"] == 3,
                       timeout=30, what="a postgres backlog of 3")
    assert a.get("/api/v1/stats")["deliveries"]["jsonl"]["pending"] == 0  # the other sink went on
    pg.start()
    crrtest.wait_until(lambda: a.get("/api/v1/stats")["deliveries"]["postgres"]["pending"] == 0,
                       timeout=60, what="the backlog delivered")
    order = [r[0] for r in pg.sql("SELECT id FROM crrmon_snapshot ORDER BY xmin::text::bigint")]
    assert order == [first["id"]] + ids, order
    counts = pg.sql("SELECT snapshot_id, count(*) FROM crrmon_indicator_value GROUP BY 1 ORDER BY 1")
    assert counts == [[i, str(first["values"])] for i in [first["id"]] + ids], counts
    assert "user=crr" not in a.proc.stderr() and "port=%d" % pg.port not in a.proc.stderr()
    assert a.proc.term() == 0
    # kill -9 between the database commit and the outcome record: written again, no duplicates
    b = Agg(data, args, env={"CRR_CRASHPOINT": "agg_delivery_after_write:2"})  # jsonl, then postgres
    try:
        b.snapshot()
    except Exception:
        pass  # it died answering
    assert b.proc.wait(timeout=30) == 86, b.proc.stderr()[-2000:]
    n = pg.sql("SELECT count(*) FROM crrmon_snapshot")[0][0]
    assert n == "5", n  # the fifth was committed in PostgreSQL before the crash
    c = Agg(data, args)
    crrtest.wait_until(lambda: c.get("/api/v1/stats")["deliveries"]["postgres"]["pending"] == 0,
                       timeout=60, what="the crashed delivery recorded")
    assert "delivered" in c.proc.stderr()
    assert pg.sql("SELECT count(*), count(DISTINCT id) FROM crrmon_snapshot") == [["5", "5"]]
    counts = pg.sql("SELECT count(*) FROM crrmon_indicator_value")
    assert counts == [[str(5 * first["values"])]], counts
    assert c.proc.term() == 0
    pg.stop()


if __name__ == "__main__":
    crrtest.main()
