/* dashboard.js: the live dashboard's behaviour (GET /, aggregator/web/).
 *
 * Reads, from its own origin only:
 *   /api/v1/dashboard-config  headline indicators, windows, boroughs, stale_after
 *   /api/v1/indicators        the state (per headline indicator), with the feed
 *                             sequence it reflects
 *   /api/v1/boroughs          last event and events of each borough
 *   /api/v1/stats             rejects by reason at load
 *   /api/v1/series            12 monthly values per headline indicator (trend lines)
 * and follows /api/v1/stream (EventSource): event "update" carries one feed
 * message (an indicator row, a borough's freshness or the reject totals),
 * event "reload" says the stream lost track: the state is read again.
 *
 * Joining late without a gap or a double (the ZeroMQ Guide's Clone
 * pattern): the stream is opened first, the state is read once it is open,
 * updates that arrive meanwhile are held, and every row keeps the sequence
 * it reflects, so an update at or below it is dropped.
 *
 * Plain DOM and SVG; no library, no inline script or style (the page's
 * Content-Security-Policy allows neither). The rendered table carries the
 * API's exact figures in data-* attributes (tests/e2e/test_dashboard.py reads
 * them back). */
'use strict';

(function () {
  const LONDON = 'LONDON';
  const CHANGED_MS = 30000; // how long a changed figure keeps its arrow
  const SERIES_DELAY_MS = 5000; // trend lines re-read at most this often per indicator

  const st = {
    cfg: null, // /api/v1/dashboard-config
    win: 0, // the window shown (days)
    area: LONDON, // the trend lines' borough
    rows: new Map(), // "indicator|borough|window" -> {v: IndicatorValue, seq: BigInt}
    changed: new Map(), // "indicator|borough|window" -> {dir, from, until}
    cells: new Map(), // "indicator|borough" -> td
    heads: new Map(), // indicator -> th
    boroughs: new Map(), // code -> {code, name, last (ms|null), events, eventsLabel, tile}
    rejects: null, // Map reason -> count, null until known
    rejectsSeq: -1n,
    offset: 0, // the aggregator's clock minus this browser's, ms
    seq: 0n, // the highest feed sequence seen
    asOf: null, // the aggregator time of the newest state or message
    es: null, // the EventSource
    needState: true, // read the state when the stream (re)opens
    loading: false,
    again: false, // another load was asked for while one ran
    pending: [], // feed messages that came while the state loaded
    seriesTimers: new Map(), // indicator -> timeout id
  };

  // SVG's namespace, from the HTML parser (so no URL is written in these files)
  const SVG_NS = (() => {
    const d = document.createElement('div');
    d.innerHTML = '<svg></svg>';
    return d.firstChild.namespaceURI;
  })();

  const $ = (id) => document.getElementById(id);
  const key = (ind, b, w) => ind + '|' + b + '|' + w;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function sr(text) {
    return el('span', 'sr', text);
  }

  async function api(path) {
    const r = await fetch(path, { headers: { Accept: 'application/json' }, cache: 'no-store' });
    if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
    return r.json();
  }

  function setStatus(state, text) {
    const s = $('status');
    s.dataset.state = state;
    s.textContent = text;
  }

  function serverNow() {
    return Date.now() + st.offset;
  }

  function noteTime(iso) {
    const t = Date.parse(iso);
    if (Number.isNaN(t)) return;
    st.offset = t - Date.now();
    st.asOf = iso;
    $('as-of').textContent = iso;
  }

  function noteSeq(seq) {
    if (seq > st.seq) st.seq = seq;
    $('seq').textContent = String(st.seq);
    document.body.dataset.seq = String(st.seq);
  }

  // ------------------------------------------------------------ formatting

  /* One figure as the table shows it, by the catalogue's stat: proportions
   * in percent with one decimal, counts whole (their intervals one decimal),
   * the rest with two decimals. */
  function fmt(stat, x, bound) {
    switch (stat) {
      case 'P':
      case 'W':
        return (x * 100).toFixed(1) + '%';
      case 'C':
        return bound ? x.toFixed(1) : x.toFixed(0);
      default:
        return x.toFixed(2);
    }
  }

  function has(x) {
    return typeof x === 'number' && Number.isFinite(x);
  }

  function age(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + ' s';
    const m = Math.floor(s / 60);
    if (m < 60) return m + ' min';
    const h = Math.floor(m / 60);
    if (h < 48) return h + ' h' + (m % 60 ? ' ' + (m % 60) + ' min' : '');
    return Math.floor(h / 24) + ' d';
  }

  function reasonName(r) {
    return r.replace(/^REJECT_CODE_/i, '').toLowerCase();
  }

  // ------------------------------------------------------------ building

  function build() {
    const cfg = st.cfg;
    st.win = cfg.windows[0];
    const wsel = $('window');
    for (const w of cfg.windows) {
      const o = el('option', null, w + ' days');
      o.value = String(w);
      wsel.append(o);
    }
    wsel.addEventListener('change', () => {
      st.win = Number(wsel.value);
      $('ind-caption').textContent = captionText();
      renderAllCells();
    });
    const asel = $('spark-area');
    const lo = el('option', null, 'London');
    lo.value = LONDON;
    asel.append(lo);
    for (const b of cfg.boroughs) {
      const o = el('option', null, b.name);
      o.value = b.code;
      asel.append(o);
    }
    asel.addEventListener('change', () => {
      st.area = asel.value;
      for (const h of cfg.headline) loadSeries(h);
    });
    $('ind-caption').textContent = captionText();
    $('stale-after').textContent = age(cfg.staleAfterSeconds * 1000);

    const head = $('ind-head');
    for (const h of cfg.headline) {
      const th = el('th');
      th.scope = 'col';
      th.dataset.indicator = h.indicator;
      th.title = h.indicator; // the catalogue's name (docs/INDICATORS.md)
      th.append(el('span', 'head-label', h.label));
      head.append(th);
      st.heads.set(h.indicator, th);
      renderSpark(h, null);
    }
    const body = $('ind-body');
    const areas = [{ code: LONDON, name: 'London' }].concat(cfg.boroughs);
    for (const b of areas) {
      const tr = el('tr');
      tr.dataset.borough = b.code;
      if (b.code === LONDON) tr.className = 'london';
      const th = el('th', null, b.name);
      th.scope = 'row';
      tr.append(th);
      for (const h of cfg.headline) {
        const td = el('td');
        td.dataset.indicator = h.indicator;
        td.dataset.borough = b.code;
        tr.append(td);
        st.cells.set(h.indicator + '|' + b.code, td);
        renderCell(h, b.code);
      }
      body.append(tr);
    }
    const tiles = $('freshness');
    for (const b of cfg.boroughs) {
      const li = el('li');
      li.dataset.borough = b.code;
      tiles.append(li);
      st.boroughs.set(b.code, {
        code: b.code, name: b.name, last: null, events: null, eventsLabel: '', tile: li,
      });
    }
    renderTiles();
  }

  function captionText() {
    return 'Headline indicators by borough, ' + st.win + '-day window';
  }

  // ------------------------------------------------------------ the table

  function renderAllCells() {
    for (const h of st.cfg.headline) {
      renderCell(h, LONDON);
      for (const b of st.cfg.boroughs) renderCell(h, b.code);
    }
  }

  function renderCell(h, code) {
    const td = st.cells.get(h.indicator + '|' + code);
    if (!td) return;
    const k = key(h.indicator, code, st.win);
    const r = st.rows.get(k);
    td.textContent = '';
    td.className = '';
    td.title = '';
    td.dataset.window = String(st.win);
    if (!r) {
      td.dataset.value = '';
      td.append(el('span', 'v', '\u2026'), sr(' not loaded yet'));
      return;
    }
    const v = r.v;
    const reporting = v.boroughsReporting || 0;
    td.dataset.value = has(v.value) ? String(v.value) : '';
    td.dataset.reliable = v.reliable ? 'true' : 'false';
    td.dataset.reporting = String(reporting);
    td.title = 'n = ' + (v.n || '0') + (has(v.nEff) ? ', effective n = ' + v.nEff.toFixed(1) : '');
    const classes = [];
    if (has(v.value)) {
      td.append(el('span', 'v', fmt(h.stat, v.value, false)));
      if (!v.reliable) {
        classes.push('unreliable');
        const m = el('span', 'mark-unreliable', '\u2020');
        m.setAttribute('aria-hidden', 'true');
        m.title = 'not reliable: the sample is too small';
        td.append(m, sr(' (not reliable)'));
      }
    } else {
      td.append(el('span', 'v', '\u2013'), sr(' no value'));
    }
    const c = st.changed.get(k);
    if (c && c.until > Date.now()) {
      classes.push('changed');
      const d = el('span', 'delta ' + c.dir, c.dir === 'up' ? ' \u25B2' : ' \u25BC');
      d.setAttribute('aria-hidden', 'true');
      td.append(d, sr(c.dir === 'up' ? ' up' : ' down'));
      if (c.from !== null) td.append(sr(' from ' + fmt(h.stat, c.from, false)));
    }
    if (has(v.ciLow) && has(v.ciHigh)) {
      const ci = el('span', 'ci');
      ci.append(sr('95% interval '), document.createTextNode(
        fmt(h.stat, v.ciLow, true) + '\u2013' + fmt(h.stat, v.ciHigh, true)));
      td.append(ci);
    }
    if (code === LONDON) {
      const cov = el('span', 'cov', reporting + '/33 reporting');
      if (reporting === 0) {
        classes.push('nocov');
        cov.prepend(markNoCov());
      }
      td.append(cov);
    } else if (reporting === 0) {
      classes.push('nocov');
      const cov = el('span', 'cov');
      cov.append(markNoCov(), document.createTextNode(' not reporting'));
      td.append(cov);
    }
    td.className = classes.join(' ');
  }

  function markNoCov() {
    const m = el('span', 'mark-nocov', '\u2298 ');
    m.setAttribute('aria-hidden', 'true');
    return m;
  }

  /* Stores one row in rows; live: an update (dropped unless newer than the
   * row), else a state row (dropped when an update newer than the state is
   * held). Returns whether it was taken. */
  function putRow(rows, v, seq, live, previous) {
    if (v.dims && Object.keys(v.dims).length) return false; // headline = total rows
    const k = key(v.indicator, v.borough, v.windowDays);
    const old = rows.get(k);
    if (old && (live ? old.seq >= seq : old.seq > seq)) return false;
    rows.set(k, { v, seq });
    if (live) {
      const before = old && has(old.v.value) ? old.v.value : has(previous) ? previous : null;
      if (has(v.value) && before !== null && v.value !== before)
        st.changed.set(k, { dir: v.value > before ? 'up' : 'down', from: before,
          until: Date.now() + CHANGED_MS });
    }
    return true;
  }

  function headline(ind) {
    return st.cfg.headline.find((h) => h.indicator === ind);
  }

  // ------------------------------------------------------------ freshness and rejects

  function renderTiles() {
    const stale = st.cfg.staleAfterSeconds * 1000;
    const now = serverNow();
    let nstale = 0;
    let nnever = 0;
    for (const b of st.boroughs.values()) {
      const li = b.tile;
      let state;
      let text;
      if (b.last === null) {
        state = 'never';
        text = 'no events';
        nnever++;
      } else if (now - b.last > stale) {
        state = 'stale';
        text = 'stale';
        nstale++;
      } else {
        state = 'fresh';
        text = 'fresh';
      }
      li.dataset.state = state;
      li.textContent = '';
      li.append(el('span', 'name', b.name), el('span', 'state', text));
      const detail = [];
      if (b.last !== null) detail.push('last event ' + age(now - b.last) + ' ago');
      if (b.events !== null) detail.push(b.events + ' ' + b.eventsLabel);
      if (detail.length) li.append(document.createTextNode(' ' + detail.join(', ')));
    }
    $('fresh-summary').textContent = nstale + ' stale, ' + nnever + ' with no events, ' +
      (st.boroughs.size - nstale - nnever) + ' fresh.';
  }

  function renderRejects() {
    const body = $('rej-body');
    body.textContent = '';
    const list = st.rejects ? [...st.rejects].filter(([, n]) => n > 0) : [];
    list.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    if (!list.length) {
      const tr = el('tr');
      const td = el('td', null, st.rejects ? 'none' : 'not known yet');
      td.colSpan = 2;
      tr.append(td);
      body.append(tr);
      return;
    }
    for (const [reason, n] of list) {
      const tr = el('tr');
      tr.dataset.reason = reason;
      const th = el('th', null, reason.replace(/_/g, ' '));
      th.scope = 'row';
      tr.append(th, el('td', 'num', String(n)));
      body.append(tr);
    }
  }

  function setRejects(byReason) {
    const m = new Map();
    for (const [r, n] of Object.entries(byReason || {})) m.set(reasonName(r), Number(n));
    st.rejects = m;
    renderRejects();
  }

  // ------------------------------------------------------------ trend lines

  function renderSpark(h, months) {
    const th = st.heads.get(h.indicator);
    const old = th.querySelector('svg');
    if (old) old.remove();
    const svg = document.createElementNS(SVG_NS, 'svg');
    svg.setAttribute('class', 'spark');
    svg.setAttribute('viewBox', '0 0 96 24');
    svg.setAttribute('role', 'img');
    const area = st.area === LONDON ? 'London' :
      (st.boroughs.get(st.area) || { name: st.area }).name;
    const parts = (months || []).map((m) => m.month + ' ' +
      (has(m.value) ? fmt(h.stat, m.value, false) : 'no value'));
    const label = h.label + ', last 12 months, ' + area + ': ' +
      (parts.length ? parts.join('; ') : 'not loaded');
    svg.setAttribute('aria-label', label);
    const title = document.createElementNS(SVG_NS, 'title');
    title.textContent = label;
    svg.append(title);
    const base = document.createElementNS(SVG_NS, 'line');
    base.setAttribute('class', 'base');
    base.setAttribute('x1', '2');
    base.setAttribute('x2', '94');
    base.setAttribute('y1', '23');
    base.setAttribute('y2', '23');
    svg.append(base);
    const vals = (months || []).map((m) => (has(m.value) ? m.value : null));
    const present = vals.filter((x) => x !== null);
    if (present.length) {
      const lo = Math.min(...present);
      const hi = Math.max(...present);
      const n = vals.length;
      const xy = (i, x) => [2 + (n > 1 ? (i * 92) / (n - 1) : 46),
        hi > lo ? 21 - ((x - lo) * 18) / (hi - lo) : 12];
      let seg = [];
      const flush = () => {
        if (seg.length > 1) {
          const p = document.createElementNS(SVG_NS, 'polyline');
          p.setAttribute('points', seg.map((q) => q[0].toFixed(1) + ',' + q[1].toFixed(1)).join(' '));
          svg.append(p);
        }
        seg = [];
      };
      vals.forEach((x, i) => (x === null ? flush() : seg.push(xy(i, x))));
      flush();
      let last = vals.length - 1;
      while (vals[last] === null) last--;
      const [cx, cy] = xy(last, vals[last]);
      const dot = document.createElementNS(SVG_NS, 'circle');
      dot.setAttribute('cx', cx.toFixed(1));
      dot.setAttribute('cy', cy.toFixed(1));
      dot.setAttribute('r', '2');
      svg.append(dot);
    }
    th.append(svg);
  }

  async function loadSeries(h) {
    const area = st.area;
    try {
      const s = await api('/api/v1/series?indicator=' + encodeURIComponent(h.indicator) +
        '&borough=' + encodeURIComponent(area));
      if (area === st.area) renderSpark(h, s.months || []);
    } catch (e) {
      renderSpark(h, null);
    }
  }

  /* A row of the trend lines' area changed: their months are read again, at
   * most once per SERIES_DELAY_MS per indicator. */
  function seriesSoon(h) {
    if (st.seriesTimers.has(h.indicator)) return;
    st.seriesTimers.set(h.indicator, setTimeout(() => {
      st.seriesTimers.delete(h.indicator);
      loadSeries(h);
    }, SERIES_DELAY_MS));
  }

  // ------------------------------------------------------------ state and feed

  async function loadState() {
    if (st.loading) {
      st.again = true;
      return;
    }
    st.loading = true;
    const cfg = st.cfg;
    const asks = cfg.headline.map((h) => api('/api/v1/indicators?indicator=' +
      encodeURIComponent(h.indicator)));
    asks.push(api('/api/v1/boroughs'), api('/api/v1/stats'));
    const got = await Promise.allSettled(asks);
    const failed = [];
    // The state replaces what was shown (after a "reload" the aggregator may
    // even count from a lower sequence); what came while it loaded is held
    // in st.pending and applied below where newer than the state's rows.
    const rows = new Map();
    st.seq = 0n;
    st.rejectsSeq = -1n;
    got.slice(0, cfg.headline.length).forEach((g, i) => {
      if (g.status !== 'fulfilled') {
        failed.push(g.reason.message);
        for (const [k, r] of st.rows) // what was shown stays until it can be read
          if (r.v.indicator === cfg.headline[i].indicator) rows.set(k, r);
        return;
      }
      const res = g.value;
      const seq = BigInt(res.seq || '0');
      noteSeq(seq);
      if (res.asOf) noteTime(res.asOf);
      for (const v of res.values || [])
        if (v.indicator === cfg.headline[i].indicator) putRow(rows, v, seq, false);
    });
    st.rows = rows;
    const bor = got[cfg.headline.length];
    if (bor.status === 'fulfilled') {
      for (const b of bor.value.boroughs || []) {
        const mine = st.boroughs.get(b.code);
        if (!mine) continue;
        const t = b.lastEvent ? Date.parse(b.lastEvent) : NaN;
        if (!Number.isNaN(t) && (mine.last === null || t > mine.last)) mine.last = t;
        if (b.eventsLastDay !== undefined) {
          mine.events = b.eventsLastDay;
          mine.eventsLabel = 'in the last day';
        }
      }
    } else {
      failed.push(bor.reason.message);
    }
    const stats = got[cfg.headline.length + 1];
    if (stats.status === 'fulfilled' && stats.value.rejected_by_reason)
      setRejects(stats.value.rejected_by_reason);
    else if (stats.status !== 'fulfilled') failed.push(stats.reason.message);
    const held = st.pending;
    st.pending = [];
    st.loading = false;
    for (const m of held) apply(m);
    renderAllCells();
    renderTiles();
    for (const h of cfg.headline) loadSeries(h);
    if (failed.length) setStatus('error', 'Some figures could not be read: ' + failed.join('; '));
    document.body.dataset.ready = 'true';
    if (st.again) {
      st.again = false;
      loadState();
    }
  }

  function apply(m) {
    const seq = BigInt(m.seq || '0');
    noteSeq(seq);
    if (m.at) noteTime(m.at);
    if (m.indicator && m.indicator.value) {
      const v = m.indicator.value;
      const h = headline(v.indicator);
      if (!h || !putRow(st.rows, v, seq, true, m.indicator.previous)) return;
      if (v.windowDays === st.win) renderCell(h, v.borough);
      if (v.borough === st.area) seriesSoon(h);
    } else if (m.freshness) {
      const b = st.boroughs.get(m.freshness.borough);
      if (!b) return;
      const t = m.freshness.lastEvent ? Date.parse(m.freshness.lastEvent) : NaN;
      if (!Number.isNaN(t) && (b.last === null || t >= b.last)) {
        b.last = t;
        b.events = m.freshness.eventsToday || '0';
        b.eventsLabel = 'today';
      }
      renderTiles();
    } else if (m.rejects) {
      if (seq <= st.rejectsSeq) return;
      st.rejectsSeq = seq;
      setRejects(m.rejects.byReason);
    }
  }

  function onUpdate(e) {
    let m;
    try {
      m = JSON.parse(e.data);
    } catch (err) {
      return; // not a feed message: nothing to show
    }
    if (st.loading) st.pending.push(m);
    else apply(m);
  }

  function openStream() {
    if (typeof EventSource === 'undefined') {
      setStatus('error', 'This browser cannot follow live updates (no EventSource)');
      loadState();
      return;
    }
    st.needState = true;
    const es = new EventSource('/api/v1/stream');
    // a stream slow to open does not keep the page empty: the state is read
    // now too, and again once it opens (only a read after the opening is
    // sure to miss no update)
    setTimeout(() => {
      if (st.es === es && st.needState && es.readyState !== EventSource.OPEN) loadState();
    }, 3000);
    st.es = es;
    es.addEventListener('update', onUpdate);
    es.addEventListener('reload', () => loadState());
    es.addEventListener('open', () => {
      setStatus('live', 'Live');
      if (st.needState) {
        st.needState = false;
        loadState();
      }
    });
    es.addEventListener('error', () => {
      if (es.readyState === EventSource.CLOSED) {
        // refused for good (not a stream): the state still shows; try again later
        setStatus('error', 'Live updates unavailable; retrying');
        if (st.needState) {
          st.needState = false;
          loadState();
        }
        setTimeout(() => {
          if (st.es === es) openStream();
        }, 10000);
      } else {
        setStatus('connecting', 'Reconnecting\u2026');
      }
    });
  }

  function tick() {
    renderTiles();
    const now = Date.now();
    for (const [k, c] of st.changed) {
      if (c.until > now) continue;
      st.changed.delete(k);
      const [ind, b, w] = k.split('|');
      const h = headline(ind);
      if (h && Number(w) === st.win) renderCell(h, b);
    }
  }

  async function init() {
    try {
      st.cfg = await api('/api/v1/dashboard-config');
    } catch (e) {
      setStatus('error', 'Cannot read the dashboard configuration: ' + e.message);
      return;
    }
    build();
    openStream();
    setInterval(tick, 5000);
  }

  init();
})();
