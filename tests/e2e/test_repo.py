"""The repository stands on its own, and installs like a Debian program.

- No tracked file points outside the repository for its design or domain
  (the docs it needs are docs/DESIGN.md and docs/DOMAIN.md).
- No production function (a .c file outside tests/, bench/, build folders and
  generated protobuf code) is longer than MAX_FUNCTION_LINES.
- `cmake --install` puts the three binaries in bin/, the reference data in
  share/crrmon/, the docs in share/doc/crrmon/, the man pages, units and
  example configs under the prefix, and the installed
  aggregator reads its reference data from share/crrmon/ by default.
"""
import os
import re
import subprocess

import crrtest as t

BUILD = os.path.dirname(t.BIN)
MAX_FUNCTION_LINES = 120
_NOT_PRODUCTION = ("tests", "bench")


def _tracked_files():
    r = subprocess.run(["git", "-C", t.SRC, "ls-files"], capture_output=True, text=True)
    if r.returncode != 0:  # a source tarball: walk the tree instead
        out = []
        for root, dirs, files in os.walk(t.SRC):
            dirs[:] = [d for d in dirs if not d.startswith(("build", ".git"))]
            out += [os.path.relpath(os.path.join(root, f), t.SRC) for f in files]
        return out
    return r.stdout.split()


def test_no_reference_outside_the_repository():
    needle = "../" + "shared"  # split so this file does not match itself
    bad = []
    for rel in _tracked_files():
        p = os.path.join(t.SRC, rel)
        try:
            with open(p, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except (IsADirectoryError, FileNotFoundError):
            continue
        for i, line in enumerate(text.splitlines(), 1):
            if needle in line or "shared/" + "domain.md" in line or "shared/" + "DESIGN.md" in line:
                bad.append(f"{rel}:{i}: {line.strip()[:100]}")
    assert not bad, "files point outside the repository:\n" + "\n".join(bad)
    for doc in ("DESIGN.md", "DOMAIN.md", "OPERATIONS.md", "MODULES.md", "INDICATORS.md"):
        assert os.path.exists(os.path.join(t.SRC, "docs", doc)), doc


def _production_c_files():
    """Tracked .c files of every top-level folder but tests/, bench/ and build folders; no
    protobuf-c output."""
    out = []
    for rel in _tracked_files():
        top = rel.split("/", 1)[0]
        if ("/" in rel and rel.endswith(".c") and not rel.endswith(".pb-c.c") and top not in _NOT_PRODUCTION
                and not top.startswith("build")):
            out.append(rel)
    return sorted(out)


def function_lengths(text):
    """[(name, first line, lines)] of each function definition in C text in the house style: the
    signature starts at column 0, the body opens with '{' alone on a line and closes with '}' alone
    on a line. lines counts from the signature's first line to the closing brace."""
    lines = text.splitlines()
    out = []
    for i, line in enumerate(lines):
        if line != "{":
            continue
        start = i
        while start > 0:
            prev = lines[start - 1]
            if (not prev.strip() or prev.startswith(("#", " *", "/*", "//")) or prev.rstrip().endswith((";", "}", "*/"))
                    or prev.startswith("}")):
                break
            start -= 1
        sig = " ".join(lines[start:i])
        m = re.search(r"(\w+)\s*\(", sig)
        if not m or "=" in sig.split("(", 1)[0]:
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j] == "}"), None)
        if end is not None:
            out.append((m.group(1), start + 1, end - start + 1))
    return out


def test_no_production_function_over_the_limit():
    files = _production_c_files()
    assert len(files) > 20, files  # the scan found the code
    bad, seen = [], 0
    for rel in files:
        with open(os.path.join(t.SRC, rel), encoding="utf-8", errors="replace") as f:
            for name, line, n in function_lengths(f.read()):
                seen += 1
                if n > MAX_FUNCTION_LINES:
                    bad.append(f"{rel}:{line}: {name} is {n} lines")
    assert seen > 200, seen
    assert not bad, f"functions over {MAX_FUNCTION_LINES} lines (split them):\n" + "\n".join(bad)


def _install():
    prefix = t.tmpdir("crrinst-")
    t.run(["cmake", "--install", BUILD, "--prefix", prefix], check=0)
    return prefix


def test_install_layout():
    prefix = _install()
    for b in ("crrmon", "crrmon-aggregator", "crrmon-collector"):
        p = os.path.join(prefix, "bin", b)
        assert os.access(p, os.X_OK), p
    for f in ("london_boroughs.csv", "population_ethnicity_census2021.csv", "SOURCES.md"):
        assert os.path.exists(os.path.join(prefix, "share", "crrmon", f)), f
    for f in ("README.md", "DESIGN.md", "DOMAIN.md", "OPERATIONS.md", "INDICATORS.md"):
        assert os.path.exists(os.path.join(prefix, "share", "doc", "crrmon", f)), f
    # man pages, units and example configs stay inside the prefix (the .deb moves etc/ and lib/systemd)
    for f in ("share/man/man1/crrmon.1", "share/man/man8/crrmon-aggregator.8", "share/man/man8/crrmon-collector.8",
              "lib/systemd/system/crrmon-aggregator.service", "lib/systemd/system/crrmon-collector@.service",
              "etc/crrmon/aggregator.ini", "etc/crrmon/collector-example.ini",
              "share/doc/crrmon/examples/prometheus/crrmon-alerts.yml",
              "share/doc/crrmon/examples/prometheus/crrmon.yml", "share/doc/crrmon/examples/grafana/crrmon.json"):
        assert os.path.exists(os.path.join(prefix, f)), f


def _start(prefix, data, wait):
    """The installed crrmon-aggregator, through t.start_aggregator."""
    return t.start_aggregator(data, binary=os.path.join(prefix, "bin", "crrmon-aggregator"), wait=wait)


def test_installed_aggregator_reads_installed_reference_data():
    prefix = _install()
    ref = os.path.join(prefix, "share", "crrmon", "london_boroughs.csv")
    # A bad row in the installed copy must stop the installed aggregator,
    # naming that file: proof that it reads share/crrmon/, not the source tree.
    with open(ref, "a") as f:
        f.write("E09999999,Nowhere,Nobody\n")
    data = t.tmpdir()
    p = _start(prefix, data, wait=False)
    code = p.wait(60)
    assert code != 0, "the installed aggregator accepted a broken installed borough list"
    assert os.path.realpath(ref) in p.stderr(), p.stderr()
    # With the good file back it starts and serves.
    with open(os.path.join(t.SRC, "data", "london_boroughs.csv")) as src, open(ref, "w") as dst:
        dst.write(src.read())
    p = _start(prefix, data, wait=True)
    assert p.alive() and p.ep.get("http")
    assert p.term() == 0


# Production folders (tests, benchmarks and generated code are not production).
PRODUCTION = ("common", "state", "client", "collector", "aggregator", "sinks", "cli", "tools")

# Includes a folder must not have: the directions of the tree (docs/MODULES.md).
FORBIDDEN = {
    "common": ("zmq.h", "czmq.h", "store.h", "store_int.h", "indicators.h", "sender.h", "certs.h",
               "spool.h"),
    "state": ("zmq.h", "czmq.h", "sender.h", "certs.h", "spool.h"),
    "collector": ("store.h", "store_int.h", "indicators.h"),
    "sinks": ("lmdb.h", "zmq.h", "czmq.h", "store.h", "store_int.h", "spool.h"),
}


def _production_files(folder):
    d = os.path.join(t.SRC, folder)
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith((".c", ".h")))


def test_tree_directions():
    """No folder includes what its direction forbids (the CMake targets stop
    project headers; system headers such as zmq.h are on every path, so this
    test stops them)."""
    bad = []
    for folder, names in FORBIDDEN.items():
        for p in _production_files(folder):
            with open(p) as f:
                for i, line in enumerate(f, 1):
                    s = line.strip()
                    if s.startswith("#include") and any(f"<{n}>" in s or f'"{n}"' in s for n in names):
                        bad.append(f"{os.path.relpath(p, t.SRC)}:{i}: {s}")
    assert not bad, "includes against the tree's directions:\n" + "\n".join(bad)


def test_shared_folder_under_a_third():
    lines = {}
    for folder in PRODUCTION:
        lines[folder] = sum(sum(1 for _ in open(p)) for p in _production_files(folder))
    total = sum(lines.values())
    assert lines["common"] * 3 < total, (lines, total)


if __name__ == "__main__":
    t.main()
