// Lifeboat dashboard. Plain JavaScript, no framework, nothing fetched from elsewhere.
// Everything shown comes from lifeboatd's API with the token the user typed in (kept in
// sessionStorage, sent as `Authorization: Bearer`). Text from the API only ever reaches the
// page through textContent / text nodes, never as HTML.
'use strict';

(() => {
  const TOKEN_KEY = 'lifeboat.token';
  const REFRESH_MS = 15000;
  const DAY_MS = 86400000;
  const RECENT_JOBS = 25;
  const SVG_NS = 'http://www.w3.org/2000/svg';

  const $ = (id) => document.getElementById(id);
  let timer = null;
  let me = null; // { name, scopes } of the token
  const expanded = new Set(); // job ids whose log is shown
  const logs = new Map(); // job id -> log of a finished job (it no longer changes)
  let lastAlerts = null; // the alerts JSON last drawn (redraw only on change)
  let lastChart = null; // [jobs, since] last charted, redrawn when the window's width changes
  let lastDrills = null; // the drills JSON last drawn (an open report stays open)
  const openReports = new Map(); // drill id -> its Markdown page, for the reports shown

  /** An API error: the status and the API's own code and message. */
  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  /** Calls the API with the session's token; throws ApiError on a non-2xx answer. */
  async function api(path, method = 'GET', body = undefined) {
    const headers = { Accept: 'application/json', Authorization: 'Bearer ' + (sessionStorage.getItem(TOKEN_KEY) || '') };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let response;
    try {
      response = await fetch(path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store', credentials: 'omit', redirect: 'error',
      });
    } catch (e) {
      throw new ApiError(0, 'unreachable', 'cannot reach lifeboatd: ' + e.message);
    }
    let json = null;
    try { json = await response.json(); } catch (_) { json = null; }
    if (!response.ok) {
      const error = (json && json.error) || {};
      throw new ApiError(response.status, error.code || String(response.status), error.message || response.statusText);
    }
    return json;
  }

  // ---- small DOM helpers (text only) ----

  /** An element with attributes/properties and children (strings become text nodes). */
  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null) continue;
      if (key === 'class') node.className = value;
      else if (key.startsWith('data-') || key.startsWith('aria-')) node.setAttribute(key, String(value));
      else node[key] = value;
    }
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  }

  function svg(tag, attrs = {}, text = undefined) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function cell(label, ...children) {
    return el('td', { 'data-label': label }, ...children);
  }

  function badge(text, cls) {
    return el('span', { class: 'badge ' + cls }, text);
  }

  function showError(id, error) {
    $(id).textContent = error ? String(error.message || error) : '';
  }

  // ---- formatting ----

  function duration(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds)) return '–';
    const s = Math.abs(Math.round(seconds));
    if (s < 10 && seconds % 1 !== 0) return Math.abs(seconds).toFixed(1) + ' s';
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min' + (s % 60 && s < 600 ? ' ' + (s % 60) + ' s' : '');
    if (s < DAY_MS / 1000) return Math.floor(s / 3600) + ' h' + (s % 3600 >= 60 ? ' ' + Math.floor((s % 3600) / 60) + ' min' : '');
    return Math.floor(s / 86400) + ' d' + (s % 86400 >= 3600 ? ' ' + Math.floor((s % 86400) / 3600) + ' h' : '');
  }

  /** "3 min ago" / "in 2 h", with the exact time as a tooltip. */
  function when(iso) {
    if (!iso) return el('span', { class: 'muted' }, 'never');
    const t = Date.parse(iso);
    const delta = (t - Date.now()) / 1000;
    const text = Math.abs(delta) < 5 ? 'just now' : delta < 0 ? duration(-delta) + ' ago' : 'in ' + duration(delta);
    return el('time', { dateTime: iso, title: new Date(t).toLocaleString() }, text);
  }

  function bytes(n) {
    if (n === null || n === undefined) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    let v = n;
    let i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
    return (i === 0 ? String(v) : v.toFixed(v < 10 ? 2 : 1)) + ' ' + units[i];
  }

  function secondsBetween(a, b) {
    return a && b ? (Date.parse(b) - Date.parse(a)) / 1000 : null;
  }

  // ---- login ----

  function showLogin(message) {
    clearInterval(timer);
    timer = null;
    me = null;
    $('dashboard').hidden = true;
    $('logout').hidden = true;
    $('overall-health').hidden = true;
    $('whoami').textContent = '';
    $('refreshed').textContent = '';
    $('login').hidden = false;
    $('login-error').textContent = message || '';
    $('token').focus();
  }

  async function signIn(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    try {
      me = await api('/api/v1/whoami');
    } catch (e) {
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin(e.status === 401 ? 'The token was refused: ' + e.message : e.message);
      return;
    }
    $('login').hidden = true;
    $('dashboard').hidden = false;
    $('logout').hidden = false;
    $('whoami').textContent = 'token ' + me.name + ' (' + me.scopes.join(', ') + ')';
    lastAlerts = null;
    lastDrills = null;
    await refresh();
    timer = setInterval(refresh, REFRESH_MS);
  }

  function canOperate() {
    return !!me && me.scopes.some((s) => s === 'operate' || s === 'admin');
  }

  // ---- data ----

  /** Jobs queued since `sinceMs`, newest first, paging with `before`. */
  async function jobsSince(sinceMs) {
    const jobs = [];
    let before = null;
    for (let page = 0; page < 20; page += 1) {
      const answer = await api('/api/v1/jobs?limit=1000' + (before ? '&before=' + before : ''));
      jobs.push(...answer.jobs);
      const oldest = answer.jobs[answer.jobs.length - 1];
      if (!answer.next_before || !oldest || Date.parse(oldest.queued_at) < sinceMs) break;
      before = answer.next_before;
    }
    return jobs;
  }

  async function refresh() {
    const since = Date.now() - 7 * DAY_MS;
    const [status, jobs, repositories, backups, alerts, drills] = await Promise.allSettled([
      api('/api/v1/status'),
      jobsSince(since),
      api('/api/v1/repositories'),
      api('/api/v1/backups'),
      api('/api/v1/alerts?state=open'),
      api('/api/v1/drills'),
    ]);
    const refused = [status, jobs, repositories, alerts].find((r) => r.status === 'rejected' && r.reason.status === 401);
    if (refused) {
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin('The token is no longer accepted (' + refused.reason.message + '). Sign in again.');
      return;
    }
    const recent = jobs.status === 'fulfilled' ? jobs.value : null;
    drawOverview(status, alerts);
    drawPlans(status, recent, backups, since);
    drawChart(recent, since);
    drawRepositories(repositories);
    drawAlerts(alerts);
    await drawJobs(jobs);
    drawDrills(drills);
    $('refreshed').textContent = 'updated ' + new Date().toLocaleTimeString();
  }

  // ---- sections ----

  function drawOverview(status, alerts) {
    const facts = $('overview-facts');
    if (status.status === 'rejected') {
      showError('overview-error', status.reason);
      return;
    }
    showError('overview-error', null);
    const s = status.value;
    const health = $('overall-health');
    health.hidden = false;
    health.className = 'badge health-' + s.health;
    health.textContent = s.health.toUpperCase();
    const open = alerts.status === 'fulfilled' ? alerts.value.alerts : null;
    const firing = open ? open.filter((a) => a.state === 'firing').length : null;
    const fact = (name, value, id) => el('div', {}, el('dt', {}, name), el('dd', { 'data-fact': id }, value));
    facts.replaceChildren(
      fact('Health', badge(s.health, 'health-' + s.health), 'health'),
      fact('Plans', String(s.plans.length), 'plans'),
      fact('Failing plans', String(s.plans.filter((p) => p.health === 'failing').length), 'failing'),
      fact('Jobs running', String(s.jobs_running), 'running'),
      fact('Jobs queued', String(s.jobs_queued), 'queued'),
      fact('Alerts firing', firing === null ? '?' : String(firing), 'alerts'),
      fact('As of', when(s.generated_at), 'generated'),
    );
  }

  function drawPlans(status, jobs, backups, since) {
    const body = $('plans-table').tBodies[0];
    if (status.status === 'rejected') {
      showError('plans-error', status.reason);
      return;
    }
    const problems = [];
    if (!jobs) problems.push('jobs unavailable: the last run and the success rate are not shown');
    if (backups.status === 'rejected') problems.push('backups unavailable: ' + backups.reason.message);
    showError('plans-error', problems.join('; ') || null);
    const stored = new Map();
    if (backups.status === 'fulfilled') {
      for (const b of backups.value.backups) {
        if (b.plan) stored.set(b.plan, (stored.get(b.plan) || 0) + b.stored_bytes);
      }
    }
    const rows = status.value.plans.map((p) => {
      const backupsOf = (jobs || []).filter((j) => j.plan === p.plan && j.kind === 'backup');
      const last = backupsOf.find((j) => j.state !== 'queued');
      const ended = backupsOf.filter((j) => j.ended_at && Date.parse(j.ended_at) >= since && (j.state === 'succeeded' || j.state === 'failed'));
      const ok = ended.filter((j) => j.state === 'succeeded').length;
      const rate = ended.length ? ok + ' / ' + ended.length + ' (' + Math.round((100 * ok) / ended.length) + ' %)' : 'no runs';
      const lastRun = last
        ? el('span', {}, badge(last.state, 'state-' + last.state), ' ', when(last.ended_at || last.started_at), el('span', { class: 'sub' }, 'job ' + last.id))
        : el('span', {}, when(p.last_success || p.last_failure));
      const age = p.age_seconds === null ? 'never succeeded' : duration(p.age_seconds);
      const rpo = p.rpo_seconds === null ? 'no RPO' : duration(p.rpo_seconds);
      const ageClass = p.within_rpo === false || p.age_seconds === null ? 'bad' : p.within_rpo ? 'good' : '';
      return el('tr', { 'data-plan': p.plan },
        cell('Plan', el('span', { class: 'name' }, p.plan), el('span', { class: 'sub' }, p.kind + (p.repository ? ' → ' + p.repository : ''))),
        cell('Health', badge(p.health, 'health-' + p.health)),
        cell('Last run', lastRun),
        cell('Age / RPO', el('span', { class: ageClass, 'data-age': '' }, age + ' / ' + rpo)),
        cell('Next run', p.running_job ? el('span', {}, 'running (job ' + p.running_job + ')') : p.next_run ? when(p.next_run) : el('span', { class: 'muted' }, 'not scheduled')),
        cell('Success (7 d)', el('span', { 'data-rate': '' }, jobs ? rate : '?')),
        cell('Stored', stored.has(p.plan) ? bytes(stored.get(p.plan)) : '–'),
      );
    });
    body.replaceChildren(...rows);
  }

  function drawRepositories(repositories) {
    const body = $('repositories-table').tBodies[0];
    if (repositories.status === 'rejected') {
      showError('repositories-error', repositories.reason);
      return;
    }
    showError('repositories-error', null);
    body.replaceChildren(...repositories.value.repositories.map((r) => {
      const verify = r.last_verify
        ? el('span', {}, el('span', { class: r.last_verify_ok ? 'good' : 'bad' }, r.last_verify_ok ? 'sound' : 'damaged'), ' ', when(r.last_verify))
        : el('span', { class: 'muted' }, 'never verified');
      return el('tr', { 'data-repository': r.repository },
        cell('Repository', el('span', { class: 'name mono' }, r.repository)),
        cell('Plans', r.plans.join(', ')),
        cell('Reachable', r.reachable ? el('span', { class: 'good' }, 'yes') : el('span', { class: 'bad', title: r.error || '' }, 'no' + (r.error ? ': ' + r.error : ''))),
        cell('Backups', String(r.backups)),
        cell('Size', el('span', { 'data-size': '' }, bytes(r.size_bytes))),
        cell('Locks', String(r.locks) + (r.stale_locks ? ' (' + r.stale_locks + ' stale)' : '')),
        cell('Last verify', verify),
      );
    }));
  }

  function drawAlerts(alerts) {
    const list = $('alerts-list');
    if (alerts.status === 'rejected') {
      showError('alerts-error', 'alerts unavailable: ' + alerts.reason.message);
      return;
    }
    showError('alerts-error', null);
    $('alerts-scope').textContent = canOperate()
      ? ''
      : 'Token ' + me.name + ' has only the ' + me.scopes.join(', ') + ' scope: acknowledging needs operate.';
    const json = JSON.stringify(alerts.value.alerts);
    // Keep a half-typed comment: redraw only when the alerts changed and nobody is typing.
    if (json === lastAlerts || list.contains(document.activeElement)) return;
    lastAlerts = json;
    if (alerts.value.alerts.length === 0) {
      list.replaceChildren(el('p', { class: 'good', 'data-empty': '' }, 'No active alerts.'));
      return;
    }
    list.replaceChildren(...alerts.value.alerts.map(alertCard));
  }

  function alertCard(a) {
    const card = el('article', { class: 'alert sev-border-' + a.severity, 'data-alert': a.id, 'data-state': a.state });
    card.append(
      el('div', {}, badge(a.severity, 'sev-' + a.severity), ' ', badge(a.state, a.state === 'firing' ? 'state-failed' : 'state-cancelled'), ' ',
        el('span', { class: 'mono' }, a.id + ' ' + a.rule)),
      el('p', { class: 'summary' }, a.summary),
      el('p', { class: 'meta' },
        (a.plan ? 'plan ' + a.plan + ' · ' : '') + (a.job ? 'job ' + a.job + ' · ' : '') + a.occurrences + '× · first seen ',
        when(a.first_seen), ' · last seen ', when(a.last_seen)),
    );
    if (a.details) card.append(el('pre', { class: 'log' }, a.details));
    if (a.acknowledged) {
      const ack = a.acknowledged;
      card.append(el('p', { class: 'meta', 'data-acknowledged': ack.by },
        'Acknowledged by ' + ack.by + ' ', when(ack.at), ack.comment ? ': “' + ack.comment + '”' : '',
        ack.until ? el('span', {}, ' · until ', when(ack.until)) : null));
      return card;
    }
    const comment = el('input', { type: 'text', name: 'comment', placeholder: 'Comment (optional)', maxLength: 500, 'aria-label': 'Comment for ' + a.id });
    const button = el('button', { type: 'submit', class: 'ack' }, 'Acknowledge');
    const outcome = el('p', { class: 'outcome', role: 'status' });
    const form = el('form', {}, comment, button);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      button.disabled = true;
      outcome.className = 'outcome';
      outcome.textContent = 'Acknowledging…';
      const body = comment.value.trim() ? { comment: comment.value.trim() } : {};
      try {
        const acked = await api('/api/v1/alerts/' + encodeURIComponent(a.id) + '/acknowledge', 'POST', body);
        outcome.textContent = 'Acknowledged by ' + (acked.acknowledged ? acked.acknowledged.by : me.name) + '.';
        comment.blur();
        lastAlerts = null;
        await refresh();
      } catch (e) {
        outcome.className = 'outcome error';
        outcome.textContent = e.status === 403
          ? 'Refused (403): this token may not acknowledge alerts: ' + e.message
          : 'Not acknowledged (' + (e.status || 'no answer') + '): ' + e.message;
        button.disabled = e.status === 403;
      }
    });
    card.append(form, outcome);
    if (!canOperate()) {
      // The API would answer 403 (the handler above says so if asked anyway).
      comment.disabled = true;
      button.disabled = true;
      button.title = 'needs a token with the operate scope';
      card.append(el('p', { class: 'reason' }, 'Acknowledging needs a token with the operate scope; ' + me.name + ' has ' + me.scopes.join(', ') + '.'));
    }
    return card;
  }

  async function drawJobs(jobs) {
    const list = $('jobs-list');
    if (jobs.status === 'rejected') {
      showError('jobs-error', jobs.reason);
      return;
    }
    showError('jobs-error', null);
    const recent = jobs.value.slice(0, RECENT_JOBS);
    if (recent.length === 0) {
      list.replaceChildren(el('li', { class: 'muted' }, 'No jobs yet.'));
      return;
    }
    const items = recent.map((j) => {
      const took = secondsBetween(j.started_at, j.ended_at);
      const head = el('button', { type: 'button', class: 'job-head', 'aria-expanded': expanded.has(j.id) ? 'true' : 'false' },
        el('span', { class: 'id' }, '#' + j.id),
        badge(j.state, 'state-' + j.state),
        el('span', { class: 'name' }, j.plan),
        el('span', {}, j.kind + ' · ' + j.trigger + (j.requested_by ? ' by ' + j.requested_by : '')),
        el('span', { class: 'when muted' }, when(j.ended_at || j.started_at || j.queued_at), took === null ? '' : ' · took ' + duration(took),
          j.bytes_stored ? ' · ' + bytes(j.bytes_stored) + ' stored' : ''),
        j.error ? el('span', { class: 'err' }, j.error) : null,
      );
      const item = el('li', { 'data-job': j.id, 'data-state': j.state }, head);
      head.addEventListener('click', async () => {
        if (expanded.has(j.id)) {
          expanded.delete(j.id);
          head.setAttribute('aria-expanded', 'false');
          const shown = item.querySelector('pre.log');
          if (shown) shown.remove();
        } else {
          expanded.add(j.id);
          head.setAttribute('aria-expanded', 'true');
          await showLog(item, j);
        }
      });
      return item;
    });
    list.replaceChildren(...items);
    await Promise.all(recent.filter((j) => expanded.has(j.id)).map((j) => showLog(list.querySelector('[data-job="' + j.id + '"]'), j)));
  }

  async function showLog(item, job) {
    const pre = el('pre', { class: 'log', 'aria-label': 'log of job ' + job.id }, 'loading…');
    const old = item.querySelector('pre.log');
    if (old) old.replaceWith(pre); else item.append(pre);
    let log = logs.get(job.id);
    try {
      if (!log) log = await api('/api/v1/jobs/' + job.id + '/log');
    } catch (e) {
      pre.textContent = 'cannot read the log: ' + e.message;
      return;
    }
    if (['succeeded', 'failed', 'cancelled'].includes(job.state)) logs.set(job.id, log);
    const lines = log.entries.map((entry) => entry.type === 'omitted'
      ? el('span', { class: 'muted' }, '… ' + entry.count + ' lines omitted\n')
      : el('span', { class: 'lvl-' + entry.level }, new Date(Date.parse(entry.at)).toLocaleTimeString() + ' ' + entry.level.padEnd(5) + ' ' + entry.line + '\n'));
    pre.replaceChildren(...(lines.length ? lines : ['(no log lines)']));
  }

  /** Bars of runs per day (stacked by outcome) and a line of the mean duration. */
  function drawChart(jobs, since) {
    const box = $('chart-box');
    if (!jobs) {
      showError('chart-error', 'jobs unavailable');
      return;
    }
    showError('chart-error', null);
    lastChart = [jobs, since];
    const today = new Date();
    today.setHours(0, 0, 0, 0);
    const days = [];
    for (let i = 6; i >= 0; i -= 1) {
      const start = new Date(today.getTime());
      start.setDate(start.getDate() - i);
      days.push({ start: start.getTime(), ok: 0, failed: 0, other: 0, seconds: 0, timed: 0 });
    }
    for (const j of jobs) {
      if (!j.ended_at) continue;
      const t = Date.parse(j.ended_at);
      if (t < since && t < days[0].start) continue;
      const day = [...days].reverse().find((d) => t >= d.start);
      if (!day) continue;
      if (j.state === 'succeeded') day.ok += 1; else if (j.state === 'failed') day.failed += 1; else day.other += 1;
      const took = secondsBetween(j.started_at, j.ended_at);
      if (took !== null) { day.seconds += took; day.timed += 1; }
    }
    // Drawn at the box's own width, so that its text keeps its size on any screen.
    const W = Math.max(300, Math.round(box.clientWidth || 700)), H = 200, L = 36, R = 48, T = 12, B = 30;
    const maxRuns = Math.max(1, ...days.map((d) => d.ok + d.failed + d.other));
    const means = days.map((d) => (d.timed ? d.seconds / d.timed : null));
    const maxMean = Math.max(1, ...means.filter((m) => m !== null));
    const slot = (W - L - R) / days.length;
    const y = (runs) => H - B - ((H - T - B) * runs) / maxRuns;
    const yd = (s) => H - B - ((H - T - B) * s) / maxMean;
    const total = days.reduce((n, d) => n + d.ok + d.failed + d.other, 0);
    const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': total + ' jobs ended in the last 7 days', 'data-runs': total });
    chart.append(svg('line', { class: 'axis', x1: L, y1: H - B, x2: W - R, y2: H - B }));
    chart.append(svg('text', { x: L - 6, y: T + 8, 'text-anchor': 'end' }, String(maxRuns)));
    chart.append(svg('text', { x: L - 6, y: H - B, 'text-anchor': 'end' }, '0'));
    chart.append(svg('text', { x: W - R + 6, y: T + 8 }, duration(maxMean)));
    const points = [];
    days.forEach((d, i) => {
      const x = L + i * slot + slot * 0.2;
      const w = slot * 0.6;
      let base = 0;
      for (const [count, cls] of [[d.ok, 'bar-ok'], [d.failed, 'bar-failed'], [d.other, 'bar-other']]) {
        if (!count) continue;
        const rect = svg('rect', { class: cls, x, y: y(base + count), width: w, height: y(base) - y(base + count) });
        rect.append(svg('title', {}, count + ' ' + cls.slice(4)));
        chart.append(rect);
        base += count;
      }
      const label = new Date(d.start).toLocaleDateString(undefined, { weekday: 'short', day: 'numeric' });
      chart.append(svg('text', { x: x + w / 2, y: H - B + 16, 'text-anchor': 'middle' }, label));
      if (means[i] !== null) points.push([x + w / 2, yd(means[i]), means[i]]);
    });
    if (points.length > 1) chart.append(svg('polyline', { class: 'duration', points: points.map((p) => p[0] + ',' + p[1]).join(' ') }));
    for (const [px, py, mean] of points) {
      const dot = svg('circle', { class: 'dot', cx: px, cy: py, r: 4 });
      dot.append(svg('title', {}, 'mean duration ' + duration(mean)));
      chart.append(dot);
    }
    box.replaceChildren(chart);
  }

  /** The text of a GET (a drill's Markdown page), with the token. */
  async function apiText(path) {
    const headers = { Accept: 'text/markdown, text/plain', Authorization: 'Bearer ' + (sessionStorage.getItem(TOKEN_KEY) || '') };
    let response;
    try {
      response = await fetch(path, { headers, cache: 'no-store', credentials: 'omit', redirect: 'error' });
    } catch (e) {
      throw new ApiError(0, 'unreachable', 'cannot reach lifeboatd: ' + e.message);
    }
    const text = await response.text();
    if (!response.ok) {
      let message = response.statusText;
      try { message = JSON.parse(text).error.message || message; } catch (_) { /* not JSON */ }
      throw new ApiError(response.status, String(response.status), message);
    }
    return text;
  }

  /** Measured against the objective: "12 s / 30 min", in red when it was missed. */
  function against(measured, objective, met) {
    const text = duration(measured) + (objective === null || objective === undefined ? '' : ' / ' + duration(objective));
    if (met === false) return el('span', { class: 'bad' }, text);
    return el('span', { class: objective === null || objective === undefined ? '' : 'good' }, text);
  }

  function drawDrills(drills) {
    const body = $('drills-body');
    if (drills.status === 'rejected') {
      body.replaceChildren(el('p', { class: 'error' }, 'drills unavailable: ' + drills.reason.message));
      lastDrills = null;
      return;
    }
    const list = (drills.value && drills.value.drills) || [];
    const json = JSON.stringify(list);
    if (json === lastDrills) return; // keep an open report as it is
    lastDrills = json;
    if (list.length === 0) {
      body.replaceChildren(el('p', { class: 'muted', 'data-empty': '' }, 'No drills have run yet.'));
      return;
    }
    const table = el('table', { class: 'stack', id: 'drills-table' },
      el('thead', {}, el('tr', {}, ...['Drill of', 'Ended', 'Result', 'RTO / objective', 'RPO / objective', 'Backup', 'Scratch removed', ''].map((h) => el('th', {}, h)))));
    const tbody = el('tbody');
    for (const d of list.slice(0, 20)) {
      const rpoMet = d.objectives_met === false && d.rpo_objective_seconds !== null && d.rpo_seconds > d.rpo_objective_seconds ? false : null;
      const rtoMet = d.objectives_met === false && d.rto_objective_seconds !== null && d.rto_seconds > d.rto_objective_seconds ? false : null;
      const result = d.passed
        ? (d.objectives_met === false ? el('span', { class: 'bad' }, 'objective missed') : el('span', { class: 'good' }, 'passed'))
        : el('span', { class: 'bad', title: d.failure || '' }, 'failed' + (d.failure ? ': ' + d.failure : ''));
      const gap = d.largest_gap_seconds !== null && d.largest_gap_seconds !== undefined ? ' (largest gap ' + duration(d.largest_gap_seconds) + ')' : '';
      const show = el('button', { type: 'button', class: 'report' }, 'Report');
      const row = el('tr', { 'data-drill': d.id },
        cell('Drill of', el('span', { class: 'name' }, d.plan || ('scenario ' + (d.scenario || '?')))),
        cell('Ended', when(d.finished)),
        cell('Result', result),
        cell('RTO / objective', against(d.rto_seconds, d.rto_objective_seconds, rtoMet)),
        cell('RPO / objective', d.rpo_seconds === null || d.rpo_seconds === undefined
          ? el('span', { class: 'muted' }, '–')
          : el('span', {}, against(d.rpo_seconds, d.rpo_objective_seconds, rpoMet), gap)),
        cell('Backup', el('span', { class: 'mono', title: d.backup || '' }, d.backup ? d.backup.slice(0, 12) : '–')),
        cell('Scratch removed', el('span', { class: d.scratch_cleaned === d.scratch_targets ? '' : 'bad' }, d.scratch_cleaned + ' of ' + d.scratch_targets)),
        cell('', show),
      );
      const pageRow = el('tr', { class: 'drill-report', hidden: true }, el('td', { colSpan: 8 }, el('pre', { class: 'log' })));
      const showReport = async () => {
        const pre = pageRow.querySelector('pre');
        pageRow.hidden = false;
        try {
          const text = openReports.get(d.id) || await apiText(d.report_url);
          openReports.set(d.id, text);
          pre.textContent = text;
        } catch (e) {
          pre.textContent = 'cannot read the report: ' + e.message;
        }
      };
      show.addEventListener('click', () => {
        if (!pageRow.hidden) { pageRow.hidden = true; openReports.delete(d.id); return; }
        showReport();
      });
      if (openReports.has(d.id)) showReport();
      tbody.append(row, pageRow);
    }
    table.append(tbody);
    body.replaceChildren(el('div', { class: 'scroll' }, table));
  }

  // ---- start ----

  document.addEventListener('DOMContentLoaded', () => {
    $('login-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const token = $('token').value.trim();
      $('token').value = '';
      if (token) signIn(token);
    });
    $('logout').addEventListener('click', () => {
      sessionStorage.removeItem(TOKEN_KEY);
      lastChart = null;
      lastDrills = null;
      openReports.clear();
      expanded.clear();
      logs.clear();
      showLogin('Signed out.');
    });
    let resizing = null;
    window.addEventListener('resize', () => {
      clearTimeout(resizing);
      resizing = setTimeout(() => { if (lastChart && me) drawChart(...lastChart); }, 150);
    });
    const kept = sessionStorage.getItem(TOKEN_KEY);
    if (kept) signIn(kept); else showLogin('');
  });
})();
