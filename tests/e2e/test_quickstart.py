"""The README's first command, as a new user sees it: deploy/quickstart.sh
prints a line per stage, shows borough names beside their codes, and leaves
both a JSON Lines and a CSV snapshot. Run on the suite's own binaries
(CRR_BIN_DIR) with a small event count, in a temporary folder."""
import csv
import glob
import json
import os

import crrtest as t


def test_quickstart_stages_names_and_both_files():
    run = os.path.join(t.tmpdir(), "qs")
    r = t.run(["bash", os.path.join(t.SRC, "deploy", "quickstart.sh")],
              env={"CRR_BIN_DIR": t.BIN, "QUICKSTART_EVENTS": "300", "QUICKSTART_RUN_DIR": run},
              timeout=300, check=0)
    out = r.stdout
    for stage in ("== dependencies and build", "== starting the aggregator", "== sending",
                  "== snapshot", "== key indicators", "== done"):
        assert stage in out, f"stage line {stage!r} missing:\n{out}"
    for name, code in (("Westminster", "E09000033"), ("Lambeth", "E09000022"), ("Newham", "E09000025")):
        assert any(line.split()[:2] == [name, code] for line in out.splitlines()), f"{name} {code} row missing:\n{out}"
    jsonl = glob.glob(os.path.join(run, "aggregator", "snapshots", "*.jsonl"))
    csvs = glob.glob(os.path.join(run, "aggregator", "snapshots", "*.csv"))
    assert len(jsonl) == 1 and len(csvs) == 1, (jsonl, csvs)
    with open(jsonl[0]) as f:
        lines = f.read().splitlines()
    with open(csvs[0], newline="") as f:
        rows = list(csv.reader(f))
    header = json.loads(lines[0])
    assert "asOf" in header, header
    assert len(rows) - 1 == len(lines) - 1, "the CSV and the JSONL snapshot hold different row counts"
    # the main job runs secure on embedded defaults: CURVE keys of its own, no plain TCP
    with open(os.path.join(run, "aggregator.log")) as f:
        log = f.read()
    assert "security: CURVE on; 3 collector certificate(s) admitted" in log, log
    assert "INSECURE" not in log and "--insecure" not in log, log
    # nothing left running: the script stopped the aggregator it started
    assert "the aggregator stopped cleanly" in out


if __name__ == "__main__":
    t.main()
