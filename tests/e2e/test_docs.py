"""test_docs: documents generated from the binary stay in step with it.

docs/INDICATORS.md is `crrmon indicators --markdown` (generated from the
catalogue table in common/indicators.c); this test fails when the committed
file differs from what the built binary prints. Regenerate with:
    build/bin/crrmon indicators --markdown > docs/INDICATORS.md
"""
import difflib
import json
import os

import crrtest


def test_indicators_md_matches_the_binary():
    path = os.path.join(crrtest.SRC, "docs", "INDICATORS.md")
    with open(path) as f:
        committed = f.read()
    generated = crrtest.run([crrtest.binary("crrmon"), "indicators", "--markdown"], check=0).stdout
    if committed != generated:
        diff = "".join(difflib.unified_diff(committed.splitlines(True), generated.splitlines(True),
                                            "docs/INDICATORS.md (committed)", "crrmon indicators --markdown"))
        raise AssertionError("docs/INDICATORS.md is out of date; regenerate it with "
                             "`crrmon indicators --markdown > docs/INDICATORS.md`:\n" + diff[:4000])


def test_markdown_lists_the_same_catalogue_as_json():
    names = [json.loads(line)["name"] for line in
             crrtest.run([crrtest.binary("crrmon"), "indicators", "--json"], check=0).stdout.splitlines()]
    md = crrtest.run([crrtest.binary("crrmon"), "indicators", "--markdown"], check=0).stdout
    rows = [ln.split("|")[1].strip().strip("`") for ln in md.splitlines() if ln.startswith("| `")]
    assert rows == names and len(names) == 42, (rows, names)
    r = crrtest.run([crrtest.binary("crrmon"), "indicators", "--json", "--markdown"])
    assert r.returncode == 64 and "not both" in r.stderr, r.stderr


crrtest.main()
