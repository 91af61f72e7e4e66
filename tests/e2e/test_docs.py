"""test_docs: documents generated from the binary stay in step with it.

docs/INDICATORS.md is `crrmon indicators --markdown` (generated from the
catalogue table in state/indicators.c); this test fails when the committed
file differs from what the built binary prints. Regenerate with:
    build/bin/crrmon indicators --markdown > docs/INDICATORS.md

docs/MODULES.md's "Life of an event" names, for each step of an event's
path, a function and the file:line where it is defined: the test fails when
a named function is no longer defined in the named file (the line number may
drift; it must still be inside the file), and when one of the guarantees the
section promises to place is missing.
"""
import difflib
import json
import os
import re

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


LIFE_GUARANTEES = ("rejected at the edge", "spooled", "sent", "durable", "acknowledged", "applied once",
                   "in a window", "snapshotted", "delivered")
ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*`(\w+)`\s*\|\s*`([\w./-]+):(\d+)`\s*\|(.*)\|\s*$")


def life_of_an_event():
    """The section's text and its rows as (step, function, file, line, guarantee)."""
    with open(os.path.join(crrtest.SRC, "docs", "MODULES.md")) as f:
        text = f.read()
    m = re.search(r"^## Life of an event\n(.*?)(?=^## )", text, re.S | re.M)
    assert m, "docs/MODULES.md has no '## Life of an event' section"
    rows = [ROW.match(line) for line in m.group(1).splitlines() if line.startswith("| ") and "---" not in line]
    rows = [r for r in rows if r]
    return m.group(1), [(int(r.group(1)), r.group(2), r.group(3), int(r.group(4)), r.group(5)) for r in rows]


def defined_in(source, name):
    """True when C source text defines function name (its body follows the
    parameter list); a prototype, a call or a comment does not count."""
    for m in re.finditer(r"^[A-Za-z_][\w \t*]*?\b" + re.escape(name) + r"\s*\(", source, re.M):
        depth, i = 1, m.end()
        while i < len(source) and depth:
            depth += {"(": 1, ")": -1}.get(source[i], 0)
            i += 1
        rest = source[i:].lstrip()
        if rest.startswith("{"):
            return True
    return False


def test_life_of_an_event_names_functions_that_exist():
    text, rows = life_of_an_event()
    assert len(rows) >= 20, f"only {len(rows)} rows parsed from 'Life of an event'"
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1)), [r[0] for r in rows]
    missing = []
    for step, fn, path, line, _ in rows:
        full = os.path.join(crrtest.SRC, path)
        if not os.path.isfile(full):
            missing.append(f"step {step}: {path} does not exist (for {fn})")
            continue
        with open(full) as f:
            src = f.read()
        if not defined_in(src, fn):
            missing.append(f"step {step}: {fn} is not defined in {path}")
        elif not 1 <= line <= src.count("\n") + 1:
            missing.append(f"step {step}: {path}:{line} is past the end of the file")
    assert not missing, "docs/MODULES.md 'Life of an event' is out of date:\n  " + "\n  ".join(missing)
    bold = {g.lower() for g in re.findall(r"\*\*([^*]+)\*\*", text)}
    assert bold >= set(LIFE_GUARANTEES), f"guarantees not placed: {sorted(set(LIFE_GUARANTEES) - bold)}"


def test_life_of_an_event_checker_is_not_vacuous():
    src = ("/* crr_gone(x) is mentioned here */\nstatic int s_decl(int a);\nint crr_called(void);\n"
           "static int s_decl(int a)\n{\n    return crr_called();\n}\n"
           "S_MAYBE_UNUSED static int s_multi(int a,\n                          int b)\n{\n    return a + b;\n}\n")
    assert defined_in(src, "s_decl") and defined_in(src, "s_multi")
    assert not defined_in(src, "crr_called")  # a prototype and a call only
    assert not defined_in(src, "crr_gone")    # a comment only
    assert not defined_in(src, "s_dec")       # a prefix of a defined name


crrtest.main()
