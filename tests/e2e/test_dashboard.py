"""test_dashboard: the live dashboard (GET /) of a real crrmon-aggregator, in a real headless Chromium.

The aggregator runs on random loopback ports with CRRMON_NOW pinned (and
running on); events go in through `crrmon send`. Chromium (Debian's
`chromium`) is driven over the DevTools protocol by browser.py, which records
every request the page makes and every console error, and stops the browser
and all its processes on every path.

- the files: GET / and /static/NAME serve exactly the files of aggregator/web/
  (compiled in), with their Content-Type, an ETag answered 304, no-cache,
  the page's Content-Security-Policy; 405, 404; and not one http:// or
  https:// reference in any of them (no request can leave the machine);
- /api/v1/dashboard-config: the headline indicators (one per family, all in
  the catalogue), the windows, the 33 boroughs, and [http] stale_after as
  configured, changed by a reload;
- a basic accessibility check of the rendered page: lang, a label for every
  control, scope on every th, titles and labels on every svg, keyboard focus
  reaching the controls with a visible outline, text contrast of at least
  4.5:1 everywhere;
- the live page against the JSON API and the stream: the table shows exactly
  the API's figures (value, interval, reliability and coverage marks, the
  33 boroughs and London by name), the freshness tiles follow the rule, then
  more events are sent and a figure changes on the page without a reload;
  no console error, no request but to the aggregator. A screenshot is kept
  under the build folder (test-artifacts/dashboard.png).
  This last test needs the JSON API (/api/v1/indicators, /boroughs, /series)
  and the stream (/api/v1/stream) of issue #10's other parts.
"""
import base64
import calendar
import json
import os
import re
import signal
import time
import urllib.error
import urllib.request
from decimal import ROUND_HALF_UP, Decimal

import browser
import crrtest

NOW = "2026-03-01T12:00:00Z"
ENV = {"CRRMON_NOW": NOW + "+"}  # starts at NOW and runs on
WEB = os.path.join(crrtest.SRC, "aggregator", "web")
ARTIFACTS = os.path.join(os.path.dirname(os.path.abspath(crrtest.BIN)), "test-artifacts")
B1, B2, B3 = "E09000007", "E09000022", "E09000030"  # Camden, Lambeth, Tower Hamlets
TYPES = ("training_feedback,learning_assessment,behaviour_observation,attendance,training_cost,"
         "staff_headcount,stop_search,complaint,racist_incident,survey_response,community_engagement")


# ------------------------------------------------------------------ helpers

def get(agg, path, headers=None, method="GET"):
    """(status, headers, body bytes) of one request to the aggregator."""
    req = urllib.request.Request(f"http://{agg.http_addr}{path}", headers=headers or {}, method=method,
                                 data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def get_json(agg, path):
    code, _, body = get(agg, path)
    assert code == 200, (path, code, body[:300])
    return json.loads(body)


def start(config=None, args=()):
    return crrtest.start_aggregator(env=ENV, config=config, args=args, healthz=True)


def send(agg, seed, count, boroughs, types=TYPES, days=20):
    """Generates events and sends them with `crrmon send` (returns once all are acknowledged)."""
    args = ["generate", "--seed", str(seed), "--count", str(count), "--types", types, "--end", NOW,
            "--days", str(days)]
    for b in boroughs:
        args += ["--borough", b]
    r = crrtest.run([crrtest.binary("crrmon"), *args], env=ENV, check=0)
    path = os.path.join(crrtest.tmpdir("crrdash-"), f"events-{seed}.jsonl")
    with open(path, "w") as f:
        f.write(r.stdout)
    crrtest.run([crrtest.binary("crrmon"), "send", "--aggregator", agg.ingest, "--quiet", path], env=ENV, check=0)


def send_future(agg, seed, count):
    """count events the aggregator rejects as `future` (the sender's clock is a day ahead, so
    its own check lets them through). Returns once all are answered."""
    ahead = {"CRRMON_NOW": "2026-03-02T12:00:00Z+"}
    r = crrtest.run([crrtest.binary("crrmon"), "generate", "--seed", str(seed), "--count", str(count),
                     "--types", "community_engagement", "--borough", B1, "--start", "2026-03-01T13:00:00Z",
                     "--end", "2026-03-02T12:00:00Z"], env=ahead, check=0)
    path = os.path.join(crrtest.tmpdir("crrdash-"), f"future-{seed}.jsonl")
    with open(path, "w") as f:
        f.write(r.stdout)
    crrtest.run([crrtest.binary("crrmon"), "send", "--aggregator", agg.ingest, "--quiet", path], env=ahead, check=2)


REJECTS_JS = """Object.fromEntries([...document.querySelectorAll('#rej-body tr[data-reason]')]
  .map(tr => [tr.dataset.reason, [tr.querySelector('th').textContent, tr.querySelector('td').textContent]]))"""


def web_files():
    return sorted(n for n in os.listdir(WEB) if not n.startswith("."))


def to_fixed(x, digits):
    """JavaScript's Number.prototype.toFixed (the exact binary value, ties away from zero)."""
    return str(Decimal(x).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def fmt(stat, x, bound=False):
    """dashboard.js's fmt(): how the table writes a figure of each stat."""
    if stat in ("P", "W"):
        return to_fixed(x * 100, 1) + "%"
    if stat == "C":
        return to_fixed(x, 1 if bound else 0)
    return to_fixed(x, 2)


def open_page(agg):
    b = browser.Browser()
    b.goto(f"http://{agg.http_addr}/")
    b.wait_js("document.body && document.body.dataset.ready === 'true'", what="the dashboard's first state")
    return b


CELLS_JS = """[...document.querySelectorAll('#ind-body td')].map(td => ({
  indicator: td.dataset.indicator, borough: td.dataset.borough, window: Number(td.dataset.window),
  value: td.dataset.value, text: (td.querySelector('.v') || {}).textContent,
  unreliable: !!td.querySelector('.mark-unreliable'),
  ci: td.querySelector('.ci') ? [...td.querySelector('.ci').childNodes].filter(n => n.nodeType === 3)
        .map(n => n.textContent).join('') : null,
  cov: td.querySelector('.cov') ? td.querySelector('.cov').textContent : null,
  nocov: td.classList.contains('nocov')}))"""


# ------------------------------------------------------------------ the files

def test_assets_served_compiled_in_without_external_reference():
    agg = start()
    names = web_files()
    assert {"index.html", "dashboard.js", "dashboard.css"} <= set(names), names
    types = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
             ".css": "text/css; charset=utf-8", ".png": "image/png"}
    for name in names:
        with open(os.path.join(WEB, name), "rb") as f:
            want = f.read()
        for path in ([f"/static/{name}"] + (["/"] if name == "index.html" else [])):
            code, h, body = get(agg, path)
            assert code == 200, (path, code)
            assert body == want, f"{path} is not aggregator/web/{name} as built"
            assert h["Content-Type"] == types[os.path.splitext(name)[1]], (path, h["Content-Type"])
            assert h["Cache-Control"] == "no-cache" and re.fullmatch(r'"[0-9a-f]{20}"', h["ETag"]), dict(h)
            assert h["X-Content-Type-Options"] == "nosniff"
            code, h2, body = get(agg, path, {"If-None-Match": h["ETag"]})
            assert (code, body, h2["ETag"]) == (304, b"", h["ETag"]), (path, code)
            code, _, body = get(agg, path, {"If-None-Match": '"0000"'})
            assert code == 200 and body == want
        # nothing in any file can make the browser reach another machine
        low = want.lower()
        assert b"http://" not in low and b"https://" not in low, f"{name} names an external URL"
        assert not re.search(rb"""(src|href)\s*=\s*["']?//|url\(\s*["']?//|@import""", low), name
    _, h, page = get(agg, "/")
    csp = h["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp and "script-src 'self'" in csp, csp
    refs = set(re.findall(rb"""(?:src|href)="([^"]+)\"""", page))
    assert refs and all(r.startswith(b"/static/") or r.startswith(b"#") for r in refs), refs
    code, h, body = get(agg, "/", method="POST")
    assert code == 405 and json.loads(body) == {"error": "use GET"} and h["Allow"] == "GET, HEAD"
    code, _, body = get(agg, "/static/nothing.js")
    assert code == 404 and json.loads(body) == {"error": "no such file"}
    code, h, body = get(agg, "/static/dashboard.js", method="HEAD")
    assert code == 200 and body == b"" and h["ETag"]


def test_dashboard_config_and_stale_after_reload():
    agg = start()
    cfg = get_json(agg, "/api/v1/dashboard-config")
    assert cfg["staleAfterSeconds"] == 900 and cfg["windows"] == [30, 90, 365], cfg
    assert [b["code"] for b in cfg["boroughs"]] == [f"E09{i:06d}" for i in range(1, 34)]
    assert cfg["boroughs"][0]["name"] == "City of London" and cfg["boroughs"][21]["name"] == "Lambeth"
    cat = crrtest.run([crrtest.binary("crrmon"), "indicators", "--markdown"], check=0).stdout
    stats = dict(re.findall(r"^\| `([a-z_.0-9]+)` \| (\w+) \|", cat, re.M))
    heads = cfg["headline"]
    families = [h["indicator"].split(".")[0] for h in heads]
    assert len(heads) >= 8 and len(set(families)) == len(families), heads
    for h in heads:
        assert stats.get(h["indicator"]) == h["stat"] and h["label"], (h, stats.get(h["indicator"]))
    agg.term()

    conf = "[http]\nstale_after = 2m\n"
    agg = start(config=conf)
    assert get_json(agg, "/api/v1/dashboard-config")["staleAfterSeconds"] == 120
    with open(agg.config_path, "w") as f:
        f.write("[http]\nstale_after = 1h\n")
    agg.signal(signal.SIGHUP)
    crrtest.wait_until(lambda: get_json(agg, "/api/v1/dashboard-config")["staleAfterSeconds"] == 3600,
                       what="stale_after applied by the reload")
    r = crrtest.run([crrtest.binary("crrmon-aggregator"), "--data-dir", agg.dir, "--http.stale_after=0s",
                     "--check-config"], check=None)
    assert r.returncode == 64 and "stale_after" in r.stderr, (r.returncode, r.stderr)


def test_dashboard_needs_a_user_when_a_users_file_is_set():
    """The same access as every GET: a users file asks for credentials, any role reads."""
    users = os.path.join(crrtest.tmpdir("crrdash-"), "users")
    for name, pw, role in (("ada", "admin-pass", "admin"), ("rita", "read-pass", "read")):
        crrtest.run([crrtest.binary("crrmon"), "passwd", name, "--file", users, "--role", role],
                    input=pw + "\n", check=0)
    agg = start(args=[f"--http.users_file={users}"])

    def auth(user, pw):
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}

    for path in ("/", "/static/dashboard.js", "/api/v1/dashboard-config"):
        code, h, _ = get(agg, path)
        assert code == 401 and h["WWW-Authenticate"] == 'Basic realm="crrmon"', (path, code)
        assert get(agg, path, auth("rita", "wrong"))[0] == 401
        assert get(agg, path, auth("rita", "read-pass"))[0] == 200, path
    assert get(agg, "/", auth("rita", "read-pass"), method="POST")[0] == 403
    assert get(agg, "/", auth("ada", "admin-pass"), method="POST")[0] == 405


def test_rejects_panel_shows_the_totals_by_reason():
    agg = start()
    send_future(agg, 5, 7)
    assert get_json(agg, "/api/v1/stats")["rejected_by_reason"]["future"] == 7
    b = open_page(agg)
    try:
        assert b.js(REJECTS_JS) == {"future": ["future", "7"]}
    finally:
        b.close()


# ------------------------------------------------------------------ accessibility

A11Y_JS = r"""(() => {
  const bad = [];
  if (!document.documentElement.lang) bad.push('html has no lang');
  if (!document.title) bad.push('no title');
  for (const c of document.querySelectorAll('input, select, textarea')) {
    const label = c.id && document.querySelector('label[for="' + c.id + '"]');
    if (!label && !c.getAttribute('aria-label') && !c.closest('label')) bad.push('no label: ' + c.outerHTML.slice(0, 80));
  }
  for (const th of document.querySelectorAll('th'))
    if (!['col', 'row', 'colgroup', 'rowgroup'].includes(th.getAttribute('scope'))) bad.push('th without scope: ' + th.textContent);
  for (const t of document.querySelectorAll('table'))
    if (!t.querySelector('caption') && !t.getAttribute('aria-label')) bad.push('table without caption: ' + t.id);
  for (const s of document.querySelectorAll('svg'))
    if (!s.getAttribute('aria-label') || !s.querySelector('title') || s.getAttribute('role') !== 'img') bad.push('svg without role, label or title');
  for (const i of document.querySelectorAll('img'))
    if (!i.hasAttribute('alt')) bad.push('img without alt');
  // contrast: every element with its own text against the first opaque background behind it
  const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0);
  const bg = (e) => { for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (c.length === 3 || c[3] > 0.5) return c.slice(0, 3); } return [255, 255, 255]; };
  let checked = 0;
  for (const e of document.body.querySelectorAll('*')) {
    if (![...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
    const cs = getComputedStyle(e);
    if (cs.visibility === 'hidden' || cs.display === 'none' || e.closest('.sr') || e.closest('.skip')) continue;
    const a = lum(rgb(cs.color).slice(0, 3)), b = lum(bg(e));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    checked++;
    if (ratio < 4.5) bad.push('contrast ' + ratio.toFixed(2) + ': ' + e.tagName + ' ' + e.textContent.trim().slice(0, 40));
  }
  return {bad, checked};
})()"""


def test_accessibility_basics():
    agg = start()
    send(agg, 11, 300, [B1, B2])
    b = open_page(agg)
    try:
        res = b.js(A11Y_JS)
        assert res["checked"] > 50 and res["bad"] == [], res
        # the table: a column header per indicator, a row header per area, 34 rows
        assert b.js("document.querySelectorAll('#ind-body th[scope=row]').length") == 34
        # keyboard: Tab reaches the skip link and both controls, each with a visible outline
        seen = {}
        for _ in range(8):
            b.call("Input.dispatchKeyEvent", type="keyDown", key="Tab", code="Tab", windowsVirtualKeyCode=9)
            b.call("Input.dispatchKeyEvent", type="keyUp", key="Tab", code="Tab", windowsVirtualKeyCode=9)
            a = b.js("(() => { const e = document.activeElement; const s = getComputedStyle(e);"
                     " return [e.id || e.className || e.tagName, s.outlineStyle, s.outlineWidth]; })()")
            seen[a[0]] = a
        for want in ("skip", "window", "spark-area"):
            assert want in seen, seen
            assert seen[want][1] != "none" and seen[want][2] != "0px", seen[want]
        # the window selector changes the table (every cell now says 90)
        b.js("(() => { const s = document.getElementById('window'); s.value = '90';"
             " s.dispatchEvent(new Event('change')); })()")
        assert set(c["window"] for c in b.js(CELLS_JS)) == {90}
    finally:
        b.close()


# ------------------------------------------------------------------ the live page

def check_table(b, agg, cfg, window):
    """Every cell of the table is the API's row of its indicator, area and window, exactly."""
    api = {}
    for h in cfg["headline"]:
        res = get_json(agg, f"/api/v1/indicators?indicator={h['indicator']}&window={window}")
        for v in res["values"]:
            if not v.get("dims") and v["windowDays"] == window:
                api[(v["indicator"], v["borough"])] = v
    stat = {h["indicator"]: h["stat"] for h in cfg["headline"]}
    cells = b.js(CELLS_JS)
    assert len(cells) == 34 * len(cfg["headline"]), len(cells)
    for c in cells:
        v = api[(c["indicator"], c["borough"])]
        st, where = stat[c["indicator"]], (c["indicator"], c["borough"], c, v)
        assert c["window"] == window, where
        if "value" in v:
            assert float(c["value"]) == v["value"] and c["text"] == fmt(st, v["value"]), where
            assert c["unreliable"] == (not v.get("reliable", False)), where
        else:
            assert c["value"] == "" and c["text"] == "\u2013" and not c["unreliable"], where
        if "ciLow" in v and "ciHigh" in v:
            assert c["ci"] == fmt(st, v["ciLow"], True) + "\u2013" + fmt(st, v["ciHigh"], True), where
        else:
            assert c["ci"] is None, where
        rep = v.get("boroughsReporting", 0)
        if c["borough"] == "LONDON":
            assert f"{rep}/33 reporting" in c["cov"] and c["nocov"] == (rep == 0), where
        else:
            assert c["nocov"] == (rep == 0) and (("not reporting" in (c["cov"] or "")) == (rep == 0)), where
    return api


def check_tiles(b, agg, stale_after):
    """Whether the freshness tiles follow the rule: no lastEvent = "no events"; else stale once
    the aggregator's clock is stale_after past it. Boroughs within 5 s of the limit are left out
    (the clock runs on between the two reads). Raises on a wrong word or a wrong "no events"."""
    now = get_json(agg, "/api/v1/indicators?indicator=engagement.sessions&borough=LONDON&window=30")["asOf"]
    now = calendar.timegm(time.strptime(now[:19], "%Y-%m-%dT%H:%M:%S"))
    bor = {x["code"]: x for x in get_json(agg, "/api/v1/boroughs")["boroughs"]}
    tiles = dict(b.js("[...document.querySelectorAll('#freshness li')].map(li => [li.dataset.borough,"
                      " [li.dataset.state, li.querySelector('.state').textContent]])"))
    assert len(tiles) == 33 and all(tiles[c][0] != "never" for c in (B1, B2, B3)), tiles
    for code, (state, text) in tiles.items():
        assert text == {"never": "no events", "fresh": "fresh", "stale": "stale"}[state], (code, tiles[code])
        if "lastEvent" not in bor[code]:
            assert state == "never", (code, tiles[code])
            continue
        last = calendar.timegm(time.strptime(bor[code]["lastEvent"][:19], "%Y-%m-%dT%H:%M:%S"))
        if abs(now - last - stale_after) > 5:
            if state != ("stale" if now - last > stale_after else "fresh"):
                return False
    return True


def test_live_page_shows_the_api_and_updates_without_reload():
    """Needs issue #10's JSON API and stream (the api and feed branches)."""
    agg = start(config="[http]\nstale_after = 1h\n")
    missing = [p for p in ("/api/v1/indicators", "/api/v1/boroughs",
                           "/api/v1/series?indicator=engagement.sessions&borough=LONDON") if get(agg, p)[0] == 404]
    try:
        with urllib.request.urlopen(f"http://{agg.http_addr}/api/v1/stream", timeout=10) as r:
            if not r.headers["Content-Type"].startswith("text/event-stream"):
                missing.append("/api/v1/stream")
    except urllib.error.HTTPError:
        missing.append("/api/v1/stream")
    assert not missing, f"this test needs issue #10's JSON API and stream; not served: {missing}"
    send(agg, 1, 1500, [B1, B2, B3])
    cfg = get_json(agg, "/api/v1/dashboard-config")
    b = open_page(agg)
    try:
        b.screenshot(os.path.join(ARTIFACTS, "dashboard.png"))  # kept whatever follows
        names = b.js("[...document.querySelectorAll('#ind-body th[scope=row]')].map(th => th.textContent)")
        assert names == ["London"] + [x["name"] for x in cfg["boroughs"]], names
        b.wait_js("document.getElementById('status').dataset.state === 'live'", what="the stream open")
        check_table(b, agg, cfg, cfg["windows"][0])
        # freshness: no events, or fresh / stale by the rule on the aggregator's clock
        crrtest.wait_until(lambda: check_tiles(b, agg, 3600), what="the freshness tiles (1h)")
        # rejects: the aggregator's totals by reason (none here)
        assert b.js("document.getElementById('rej-body').textContent.trim()") == "none"
        # every headline indicator's trend line: London's 12 months of /api/v1/series, in its text
        for h in cfg["headline"]:
            months = get_json(agg, f"/api/v1/series?indicator={h['indicator']}&borough=LONDON")["months"]
            assert len(months) == 12, months
            want = h["label"] + ", last 12 months, London: " + "; ".join(
                m["month"] + " " + (fmt(h["stat"], m["value"]) if "value" in m else "no value") for m in months)
            svg = f"document.querySelector(\"#ind-head th[data-indicator='{h['indicator']}'] svg\")"
            b.wait_js(f"{svg}.getAttribute('aria-label') === {json.dumps(want)}", what=f"{h['indicator']}'s trend")
            assert b.js(f"{svg}.querySelector('title').textContent") == want

        # more events for one borough: its engagement count changes on the page, with no reload
        b.js("window.crrSameDocument = 42")
        key = ("engagement.sessions", B2)
        before = get_json(agg, f"/api/v1/indicators?indicator={key[0]}&borough={B2}&window=30")
        before = next(v.get("value") for v in before["values"] if not v.get("dims") and v["windowDays"] == 30)
        send(agg, 2, 40, [B2], types="community_engagement", days=10)

        def after():
            res = get_json(agg, f"/api/v1/indicators?indicator={key[0]}&borough={B2}&window=30")
            return next(v.get("value") for v in res["values"] if not v.get("dims") and v["windowDays"] == 30)

        now = crrtest.wait_until(lambda: after() != before and after(), what="the API to count the new events")
        sel = f"#ind-body td[data-indicator='{key[0]}'][data-borough='{B2}']"
        shown = f"document.querySelector(\"{sel}\").dataset.value"
        crrtest.wait_until(lambda: b.js(shown) and float(b.js(shown)) == now, what="the page to show the new value live")
        assert b.js("window.crrSameDocument") == 42, "the page was reloaded"
        assert b.js(f"document.querySelector(\"{sel}\").classList.contains('changed')")
        check_table(b, agg, cfg, cfg["windows"][0])
        # rejects counted live by reason
        send_future(agg, 6, 5)
        b.wait_js(f"JSON.stringify({REJECTS_JS.strip()}) === '{{\"future\":[\"future\",\"5\"]}}'",
                  what="the rejects panel to count 5 future events live")
        b.screenshot(os.path.join(ARTIFACTS, "dashboard-after-update.png"))

        assert b.console_errors == [] and b.exceptions == [] and b.log_errors == [], \
            (b.console_errors, b.exceptions, b.log_errors)
        origin = f"http://{agg.http_addr}/"
        outside = [u for u in b.requests if not u.startswith(origin)]
        assert b.requests and outside == [], outside

        # stale_after lowered by a reload: the boroughs with events turn red (and say so)
        with open(agg.config_path, "w") as f:
            f.write("[http]\nstale_after = 1s\n")
        agg.signal(signal.SIGHUP)
        crrtest.wait_until(lambda: get_json(agg, "/api/v1/dashboard-config")["staleAfterSeconds"] == 1,
                           what="stale_after 1s applied")
        b.goto(f"http://{agg.http_addr}/")
        b.wait_js("document.body && document.body.dataset.ready === 'true'", what="the page again")
        tile = f"document.querySelector('#freshness li[data-borough={B1}]')"
        b.wait_js(f"{tile}.dataset.state === 'stale'", what=f"{B1} stale")
        crrtest.wait_until(lambda: check_tiles(b, agg, 1), what="the freshness tiles (1s)")
        red = b.js(f"getComputedStyle({tile}).backgroundColor")
        assert red == "rgb(165, 14, 28)", red
    finally:
        b.close()


if __name__ == "__main__":
    crrtest.main()
