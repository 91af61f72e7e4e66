"""test_http_security: the aggregator's HTTP side locked down, over real sockets.

- Any bind but 127.0.0.1 (127.0.0.2, 0.0.0.0) without TLS, without users or
  without either is refused at start: exit 78 naming what to configure; a
  TLS key readable by others likewise.
- Over TLS (a self-signed certificate made here by `openssl req`, checked by
  Python's ssl against that certificate): no or wrong credentials 401 with
  WWW-Authenticate: Basic realm="crrmon"; right ones 200; a read user 403 on
  POST /api/v1/snapshots, an admin 201; /healthz open; a user whose hash was
  made by `openssl passwd -6` gets in like one made by `crrmon passwd`;
  plain HTTP to the TLS port gets no answer; `crrmon snapshot --cacert
  --user` gets 401/403/its snapshot as the user allows.
- On loopback with a users file the same rules hold without TLS, and SIGHUP
  re-reads the file: an added user gets in, a removed one gets 401, a file
  that does not parse is refused with file:line and the users stay.
- `crrmon passwd`: mode 0600, the role kept on a new password, other lines
  kept, a bad file refused (78, file:line), the password never printed.
"""
import base64
import http.client
import os
import signal
import ssl
import stat

import crrtest

NOW = "2026-03-01T12:00:00Z"


def passwd(users, name, password, *extra, check=0):
    return crrtest.run([crrtest.binary("crrmon"), "passwd", name, "--file", users, *extra],
                       input=password + "\n", check=check)


def make_cert(d):
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    crrtest.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=crrmon-test",
                 "-addext", "subjectAltName=IP:127.0.0.2,IP:127.0.0.1"], check=0)
    os.chmod(key, 0o600)
    return cert, key


def make_users(d):
    users = os.path.join(d, "users")
    passwd(users, "ada", "admin-pass", "--role", "admin")
    passwd(users, "rita", "read-pass")
    return users


def start(http, *extra):
    """crrtest.start_aggregator with its HTTP server on `http`; returns (handle, data, host, port)."""
    data = os.path.join(crrtest.tmpdir("crrhttp-"), "data")
    agg = crrtest.start_aggregator(data, http=http, args=extra, env={"CRRMON_NOW": NOW})
    host, port = agg.ep["http"].rsplit(":", 1)
    return agg, data, host, int(port)


def request(conn, method, path, user=None, password=None):
    """(status, headers, body) of one request on a fresh connection."""
    headers = {}
    if user is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    try:
        conn.request(method, path, body=b"" if method == "POST" else None, headers=headers)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def refused(http, *extra):
    """Starts an aggregator that must refuse; returns its stderr."""
    data = os.path.join(crrtest.tmpdir("crrhttp-"), "data")
    agg = crrtest.start_aggregator(data, http=http, args=extra, wait=False)
    assert agg.wait(60) == 78, (http, extra, agg.returncode, agg.stderr())
    assert not os.path.exists(data), "refused before the data folder was touched"
    return agg.stderr()


def test_non_loopback_bind_without_tls_or_users_is_refused():
    d = crrtest.tmpdir()
    cert, key = make_cert(d)
    users = make_users(d)
    for host in ("127.0.0.2", "0.0.0.0"):
        http = f"{host}:{crrtest.free_port()}"
        err = refused(http)
        assert f"refusing to serve HTTP on {http}" in err, err
        assert "[http] tls_cert and tls_key and [http] users_file" in err, err
        err = refused(http, f"--http.users_file={users}")
        assert "configure [http] tls_cert and tls_key (" in err, err
        err = refused(http, f"--http.tls_cert={cert}", f"--http.tls_key={key}")
        assert "configure [http] users_file (" in err, err
    # half a TLS pair, a key others can read, a users file that does not parse
    err = refused("127.0.0.2:0", f"--http.tls_cert={cert}", f"--http.users_file={users}")
    assert "tls_cert and tls_key go together" in err, err
    os.chmod(key, 0o644)
    err = refused("127.0.0.2:0", f"--http.tls_cert={cert}", f"--http.tls_key={key}",
                  f"--http.users_file={users}")
    assert f"tls_key {key} is open to group or others (mode 0644)" in err and "chmod 600" in err, err
    os.chmod(key, 0o600)
    with open(users, "a") as f:
        f.write("mallory:plaintext:admin\n")
    err = refused("127.0.0.2:0", f"--http.tls_cert={cert}", f"--http.tls_key={key}",
                  f"--http.users_file={users}")
    assert f"{users}:3: hash: not a crypt(3) SHA-512 hash" in err, err


def test_tls_with_basic_auth_and_roles():
    d = crrtest.tmpdir()
    cert, key = make_cert(d)
    users = make_users(d)
    foreign = crrtest.run(["openssl", "passwd", "-6", "foreign-pass"], check=0).stdout.strip()
    with open(users, "a") as f:
        f.write(f"olga:{foreign}:read\n")
    p, data, host, port = start("127.0.0.2:0", f"--http.tls_cert={cert}", f"--http.tls_key={key}",
                                f"--http.users_file={users}")
    assert host == "127.0.0.2"
    ctx = ssl.create_default_context(cafile=cert)

    def tls():
        return http.client.HTTPSConnection(host, port, context=ctx, timeout=30)

    for user, password in ((None, None), ("ada", "wrong"), ("nobody", "admin-pass"), ("rita", "admin-pass"),
                           ("ada", "")):
        status, headers, body = request(tls(), "GET", "/api/v1/stats", user, password)
        assert status == 401, (user, status, body)
        assert headers.get("www-authenticate") == 'Basic realm="crrmon"', headers
    status, _, body = request(tls(), "POST", "/api/v1/snapshots")
    assert status == 401, (status, body)
    for user, password in (("ada", "admin-pass"), ("rita", "read-pass"), ("olga", "foreign-pass")):
        status, _, body = request(tls(), "GET", "/api/v1/stats", user, password)
        assert status == 200 and b'"applied"' in body, (user, status, body)
        status, _, body = request(tls(), "GET", "/metrics", user, password)
        assert status == 200 and b"crrmon_events_applied_total" in body, (user, status)
    assert request(tls(), "GET", "/healthz")[0] == 200
    status, _, body = request(tls(), "POST", "/api/v1/snapshots", "rita", "read-pass")
    assert status == 403 and b"admin role" in body, (status, body)
    assert not os.listdir(os.path.join(data, "snapshots")), "a read user took no snapshot"
    status, _, body = request(tls(), "POST", "/api/v1/snapshots", "ada", "admin-pass")
    assert status == 201 and b'"id"' in body, (status, body)
    assert len(os.listdir(os.path.join(data, "snapshots"))) == 1
    # crrmon snapshot over TLS: no user 401, a read user 403, an admin gets its snapshot
    snap = [crrtest.binary("crrmon"), "snapshot", "--http", f"https://{host}:{port}", "--cacert", cert]
    r = crrtest.run(snap, check=1)
    assert "HTTP 401" in r.stderr, r.stderr
    r = crrtest.run(snap + ["--user", "rita"], input="read-pass\n", check=1)
    assert "HTTP 403" in r.stderr, r.stderr
    r = crrtest.run(snap + ["--user", "ada"], env={"CRRMON_HTTP_PASSWORD": "admin-pass"}, check=0)
    assert r.stdout.startswith("id ") and "admin-pass" not in r.stdout + r.stderr, r.stdout
    assert len(os.listdir(os.path.join(data, "snapshots"))) == 2
    r = crrtest.run([crrtest.binary("crrmon"), "snapshot", "--http", f"https://{host}:{port}", "--user", "ada"],
                    env={"CRRMON_HTTP_PASSWORD": "admin-pass"}, check=1)  # the test CA is not trusted
    assert "cannot reach" in r.stderr, r.stderr
    # plain HTTP to the TLS port: no HTTP answer at all
    plain = http.client.HTTPConnection(host, port, timeout=30)
    try:
        status = request(plain, "GET", "/healthz")[0]
        raise AssertionError(f"plain HTTP to the TLS port was answered {status}")
    except (http.client.HTTPException, ConnectionError):
        pass
    assert "admin-pass" not in p.stderr() and "read-pass" not in p.stderr()
    assert p.term() == 0


def test_loopback_users_file_roles_and_reload():
    d = crrtest.tmpdir()
    users = make_users(d)
    p, data, host, port = start("127.0.0.1:0", f"--http.users_file={users}")

    def get(user, password, method="GET", path="/api/v1/stats"):
        return request(http.client.HTTPConnection(host, port, timeout=30), method, path, user, password)[0]

    assert get(None, None) == 401
    assert get(None, None, path="/healthz") == 200
    assert get(None, None, path="/readyz") == 200  # readiness probes need no secret either
    assert get("rita", "read-pass") == 200
    for path in ("/api/v1/boroughs", "/api/v1/indicators?borough=LONDON", "/api/v1/snapshots"):
        assert (get(None, None, path=path), get("rita", "read-pass", path=path)) == (401, 200), path
    assert get("rita", "read-pass", "POST", "/api/v1/snapshots") == 403
    assert get("ada", "admin-pass", "POST", "/api/v1/snapshots") == 201
    assert get("zoe", "zoe-pass") == 401

    def hup(text):
        n = p.stderr().count("reload: SIGHUP received")
        p.signal(signal.SIGHUP)
        return crrtest.wait_until(lambda: p.stderr().count("reload: SIGHUP received") > n
                                  and text in p.stderr().split("reload: SIGHUP received")[-1], what=text)

    passwd(users, "zoe", "zoe-pass", "--role", "admin")
    hup(f"users_file {users}: 3 user(s)")
    assert get("zoe", "zoe-pass") == 200
    assert get("zoe", "zoe-pass", "POST", "/api/v1/snapshots") == 201
    # a file that does not parse: refused with file:line, the users loaded before stay
    with open(users) as f:
        good = f.read()
    with open(users, "w") as f:
        f.write(good + "broken line\n")
    hup("keeping the 3 HTTP user(s) loaded before")
    assert f"{users}:4: expected NAME:HASH:ROLE" in p.stderr()
    assert get("zoe", "zoe-pass") == 200
    # zoe removed: 401 from the next request
    with open(users, "w") as f:
        f.write("".join(line for line in good.splitlines(True) if not line.startswith("zoe:")))
    hup(f"users_file {users}: 2 user(s)")
    assert get("zoe", "zoe-pass") == 401
    assert get("ada", "admin-pass") == 200
    assert p.term() == 0


def test_passwd_writes_0600_atomically_and_keeps_lines():
    d = crrtest.tmpdir()
    users = os.path.join(d, "users")
    with open(users, "w") as f:
        f.write("# HTTP users\n")
    os.chmod(users, 0o644)
    r = passwd(users, "ada", "first-pass", "--role", "admin")
    assert "first-pass" not in r.stdout + r.stderr
    passwd(users, "rita", "read-pass")
    r = passwd(users, "ada", "second-pass")  # no --role: admin stays
    assert "updated user 'ada' (role admin)" in r.stderr, r.stderr
    assert stat.S_IMODE(os.stat(users).st_mode) == 0o600
    lines = open(users).read().splitlines()
    assert lines[0] == "# HTTP users" and len(lines) == 3, lines
    assert lines[1].startswith("ada:$6$") and lines[1].endswith(":admin"), lines
    assert lines[2].startswith("rita:$6$") and lines[2].endswith(":read"), lines
    assert [n for n in os.listdir(d)] == ["users"], "no temporary file left"
    # the new password works, the old one does not
    p, _, host, port = start("127.0.0.1:0", f"--http.users_file={users}")

    def conn():
        return http.client.HTTPConnection(host, port, timeout=30)
    assert request(conn(), "GET", "/metrics", "ada", "second-pass")[0] == 200
    assert request(conn(), "GET", "/metrics", "ada", "first-pass")[0] == 401
    assert p.term() == 0
    # bad input: an empty password, a bad role, a file that does not parse
    r = passwd(users, "ada", "", check=1)
    assert "empty password" in r.stderr
    passwd(users, "ada", "x", "--role", "root", check=64)
    with open(users, "a") as f:
        f.write("ada2:$6$bad:read\n")
    r = passwd(users, "bob", "bob-pass", check=78)
    assert f"{users}:4: hash:" in r.stderr, r.stderr
    assert "bob:" not in open(users).read()


if __name__ == "__main__":
    crrtest.main()
