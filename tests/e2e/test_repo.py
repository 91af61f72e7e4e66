"""The repository stands on its own, and installs like a Debian program.

- No tracked file points outside the repository for its design or domain
  (the docs it needs are docs/DESIGN.md and docs/DOMAIN.md).
- `cmake --install` puts the three binaries in bin/, the reference data in
  share/crrmon/, the docs in share/doc/crrmon/, the man pages, units and
  example configs under the prefix, and the installed
  aggregator reads its reference data from share/crrmon/ by default.
"""
import json
import os
import subprocess

import crrtest as t

BUILD = os.path.dirname(t.BIN)


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
              "etc/crrmon/aggregator.ini", "etc/crrmon/collector-example.ini"):
        assert os.path.exists(os.path.join(prefix, f)), f


def _start(prefix, data):
    return t.Proc([os.path.join(prefix, "bin", "crrmon-aggregator"), "--data-dir", data,
                   "--ingest", "tcp://127.0.0.1:*", "--feed", "tcp://127.0.0.1:*",
                   "--http", "127.0.0.1:0"])


def test_installed_aggregator_reads_installed_reference_data():
    prefix = _install()
    ref = os.path.join(prefix, "share", "crrmon", "london_boroughs.csv")
    # A bad row in the installed copy must stop the installed aggregator,
    # naming that file: proof that it reads share/crrmon/, not the source tree.
    with open(ref, "a") as f:
        f.write("E09999999,Nowhere,Nobody\n")
    data = t.tmpdir()
    p = _start(prefix, data)
    code = p.wait(60)
    assert code != 0, "the installed aggregator accepted a broken installed borough list"
    assert os.path.realpath(ref) in p.stderr(), p.stderr()
    # With the good file back it starts and serves.
    with open(os.path.join(t.SRC, "data", "london_boroughs.csv")) as src, open(ref, "w") as dst:
        dst.write(src.read())
    p = _start(prefix, data)
    ep = os.path.join(data, "endpoints.json")
    t.wait_until(lambda: os.path.exists(ep) and json.load(open(ep)).get("http"), what="endpoints.json")
    assert p.alive()
    assert p.term() == 0


if __name__ == "__main__":
    t.main()
