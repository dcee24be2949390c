// ovdev Dev Tools: a page over the local API (docs/api.md), served by ovdev itself.
// No framework and no build step: the browser runs this file as it is.
'use strict';

const API = '/api/v1';
/** Log lines kept in the page; older ones go (the page never grows without bound). */
const MAX_LINES = 10000;
/** Parsing budget per animation frame, so that a flood never freezes the page. */
const FRAME_BUDGET_MS = 8;
/** Log batches waiting to be parsed beyond this are dropped (counted as skipped). */
const MAX_PENDING_BATCHES = 50;
/** Lines a second the server may send to the page (it keeps MAX_LINES of them). */
const LOG_RATE = 5000;
const SOURCES = ['vite', 'go-build', 'go-watch', 'manager', 'plugin'];
const LEVELS = { debug: 0, info: 1, warn: 2, error: 3 };
const STATUS_EVENTS = ['plugin/devserver/status', 'plugin/devserver/error', 'plugin/dev_reload_error', 'ovdev/events_missed'];

const $ = (id) => document.getElementById(id);

/** Everything the page knows. */
const page = {
  plugins: new Map(), // id -> { state, stopped, errors, rows }
  selected: null,
  connected: false,
  events: null,
  logs: null, // { source: EventSource, id }
  lines: [], // { seq, ts, source, level, message, html?, text? }
  shown: [], // the kept lines that pass the filters
  pending: [],
  skipped: 0,
  skippedLines: 0,
  lastSeq: 0,
};

// ---- status rules (those of Omniview's footer) -------------------------------------------

/** `ready`, `building`, `error`, `stopped` or `connecting` for one plugin's state. */
function aggregate(state, stopped) {
  if (stopped) return 'stopped';
  if (state.goStatus === 'error' || state.viteStatus === 'error') return 'error';
  if (state.goStatus === 'building' || state.viteStatus === 'starting') return 'building';
  if (state.viteStatus === 'stopped' && !state.grpcConnected) return 'stopped';
  if (!state.grpcConnected && state.goStatus !== 'idle') return 'connecting';
  return 'ready';
}

/** The page's own status: red while any build is broken, grey while disconnected. */
function overall() {
  if (!page.connected) return 'disconnected';
  const all = [...page.plugins.values()].map((p) => aggregate(p.state, p.stopped));
  if (all.includes('error')) return 'error';
  if (all.includes('building')) return 'building';
  return all.length ? 'ready' : 'idle';
}

const FAVICON_COLOURS = { error: '#cf222e', building: '#d29922', ready: '#2da44e', idle: '#8b949e', disconnected: '#8b949e' };

function showOverall() {
  const status = overall();
  const colour = FAVICON_COLOURS[status];
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="${colour}"/></svg>`;
  const icon = $('favicon');
  icon.href = 'data:image/svg+xml,' + encodeURIComponent(svg);
  icon.dataset.status = status;
  const broken = [...page.plugins.values()].filter((p) => aggregate(p.state, p.stopped) === 'error').length;
  const words = {
    error: `✖ ${broken} broken`,
    building: '◐ building',
    ready: '● ready',
    idle: '○ no plugins',
    disconnected: '○ disconnected',
  };
  document.title = `${words[status]} · ovdev Dev Tools`;
}

// ---- the API -------------------------------------------------------------------------------

async function call(method, path, body) {
  const res = await fetch(API + path, {
    method,
    credentials: 'same-origin',
    headers: body ? { 'Content-Type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) throw new Error((data && data.error) || `ovdev answered ${res.status}`);
  return data;
}

// ---- overview --------------------------------------------------------------------------------

function plugin(id) {
  let p = page.plugins.get(id);
  if (!p) {
    p = { state: null, stopped: false, errors: [], row: null };
    page.plugins.set(id, p);
  }
  return p;
}

function setState(state) {
  const p = plugin(state.pluginID);
  const before = p.state ? aggregate(p.state, p.stopped) : null;
  if (state.mode === 'idle') {
    // Stopped: keep it listed (with its directory) so that it can be started again.
    p.stopped = true;
    if (p.state) p.state = { ...p.state, goStatus: 'stopped', viteStatus: 'stopped', grpcConnected: false, viteURL: '' };
    else p.state = state;
  } else {
    p.stopped = false;
    p.state = state;
    if (state.devPath) p.devPath = state.devPath;
    if (state.mode === 'external') p.seenExternal = true;
    if (state.goStatus === 'ready') p.errors = [];
  }
  const after = aggregate(p.state, p.stopped);
  notifyChange(state.pluginID, before, after, p);
  renderRow(state.pluginID);
  if (page.selected === state.pluginID) renderDetail();
  showOverall();
}

function cell(text, cls) {
  const td = document.createElement('td');
  if (cls) td.className = cls;
  td.textContent = text;
  return td;
}

const CLOCK = { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' };

function time(t) {
  if (!t || t.startsWith('0001-')) return '';
  return new Date(t).toLocaleTimeString([], CLOCK);
}

function seconds(ns) {
  return ns ? `${(ns / 1e9).toFixed(2)} s` : '';
}

function renderRow(id) {
  const p = plugin(id);
  const s = p.state;
  const status = aggregate(s, p.stopped);
  const tr = p.row || document.createElement('tr');
  tr.replaceChildren();
  tr.tabIndex = 0;
  tr.dataset.plugin = id;
  tr.setAttribute('aria-selected', String(page.selected === id));
  const st = cell('', 's-' + status);
  const dot = document.createElement('span');
  dot.className = 'dot';
  st.append(dot, status);
  tr.append(st, cell(id), cell(p.stopped ? 'stopped' : s.mode), cell(s.goStatus, 's-' + s.goStatus));
  const vite = cell('');
  if (s.viteURL) {
    const a = document.createElement('a');
    a.href = s.viteURL;
    a.textContent = s.viteURL.replace('http://', '');
    a.target = '_blank';
    a.rel = 'noopener';
    vite.append(a);
  } else vite.textContent = s.viteStatus;
  tr.append(vite, cell(s.grpcConnected ? 'yes' : '—'));
  tr.append(cell(s.lastBuildTime && !s.lastBuildTime.startsWith('0001-') ? `${time(s.lastBuildTime)} (${seconds(s.lastBuildDuration)})` : ''));
  tr.append(cell(String(s.restarts || 0)));
  if (!p.row) {
    p.row = tr;
    const rows = [...$('plugins').tBodies[0].rows];
    const next = rows.find((r) => r.dataset.plugin > id);
    $('plugins').tBodies[0].insertBefore(tr, next || null);
  }
  $('empty').hidden = page.plugins.size > 0;
}

function select(id) {
  if (page.selected === id) return;
  const old = page.selected && page.plugins.get(page.selected);
  page.selected = id;
  if (old && old.row) old.row.setAttribute('aria-selected', 'false');
  const p = page.plugins.get(id);
  if (p && p.row) p.row.setAttribute('aria-selected', 'true');
  $('detail').hidden = false;
  $('action-status').textContent = '';
  $('action-status').classList.remove('failed');
  renderDetail();
  loadBuilds();
  followLogs(id);
}

// ---- one plugin ------------------------------------------------------------------------------

function editorLink(e) {
  const template = $('editor').value;
  if (!template) return null;
  return template
    .replaceAll('{file}', encodeURI(e.file))
    .replaceAll('{line}', String(e.line))
    .replaceAll('{column}', String(e.column));
}

function renderErrors(p) {
  const list = $('errors');
  list.replaceChildren();
  if (!p.errors.length) {
    const li = document.createElement('li');
    li.className = 'none';
    li.textContent = 'No build errors.';
    list.append(li);
    return;
  }
  for (const e of p.errors) {
    const li = document.createElement('li');
    li.className = e.severity === 'warning' ? 'warning' : 'error';
    const where = `${e.file}:${e.line}:${e.column}`;
    const href = editorLink(e);
    if (href) {
      const a = document.createElement('a');
      a.href = href;
      a.textContent = where;
      li.append(a);
    } else li.append(where);
    li.append(`: ${e.severity === 'warning' ? 'warning: ' : ''}${e.message}`);
    list.append(li);
  }
}

function renderDetail() {
  const id = page.selected;
  const p = id && page.plugins.get(id);
  if (!p) return;
  const s = p.state;
  const status = aggregate(s, p.stopped);
  $('detail-title').textContent = id;
  const badge = $('detail-status');
  badge.textContent = p.stopped ? 'stopped' : `${status} · go ${s.goStatus} · vite ${s.viteStatus}`;
  badge.className = 'badge s-' + status;
  $('last-error').textContent = p.stopped ? '' : s.lastError;
  const external = s.mode === 'external';
  const can = {
    rebuild: !p.stopped && !external,
    restart: !p.stopped && !external,
    stop: !p.stopped && !external,
    // A stopped plugin starts again from the directory it last ran from; one that ran
    // outside ovdev can be attached again.
    start: p.stopped && !!p.devPath,
    attach: p.stopped && !!p.seenExternal,
    detach: !p.stopped && external,
  };
  for (const b of document.querySelectorAll('[data-action]')) b.disabled = !can[b.dataset.action];
  renderErrors(p);
}

async function loadErrors(id) {
  try {
    const payload = await call('GET', `/plugins/${encodeURIComponent(id)}/errors`);
    plugin(id).errors = payload.errors;
    if (page.selected === id) renderErrors(plugin(id));
    showOverall();
  } catch (_) { /* not running: nothing to show */ }
}

function trigger(t) {
  if (t.kind !== 'changes') return t.kind;
  const first = t.files[0] ? t.files[0].split('/').pop() : '';
  const more = t.files.length - 1 + t.more;
  return `saved ${first}${more > 0 ? ` (+${more})` : ''}`;
}

async function loadBuilds() {
  const id = page.selected;
  const body = $('builds').tBodies[0];
  try {
    const builds = await call('GET', `/plugins/${encodeURIComponent(id)}/builds`);
    if (page.selected !== id) return;
    body.replaceChildren();
    for (const b of builds.reverse()) {
      const tr = document.createElement('tr');
      const cls = { succeeded: 's-ready', failed: 's-error', timedOut: 's-error', cancelled: 's-stopped' }[b.result];
      tr.append(cell(String(b.number)), cell(time(b.startedAt)), cell(seconds(b.duration)), cell(b.result, cls), cell(trigger(b.trigger)));
      tr.title = b.trigger.kind === 'changes' ? b.trigger.files.join('\n') : '';
      body.append(tr);
    }
  } catch (_) {
    if (page.selected === id) body.replaceChildren();
  }
}

async function act(action) {
  const id = page.selected;
  const p = plugin(id);
  const out = $('action-status');
  out.classList.remove('failed');
  const words = { rebuild: 'Rebuilding', restart: 'Restarting', stop: 'Stopping', start: 'Starting', attach: 'Attaching', detach: 'Detaching' };
  out.textContent = `${words[action]} ${id}…`;
  for (const b of document.querySelectorAll('[data-action]')) b.disabled = true;
  try {
    const body = action === 'start' ? { devPath: p.devPath } : undefined;
    const answer = await call('POST', `/plugins/${encodeURIComponent(id)}/${action}`, body);
    if (answer && answer.pluginID) setState(answer);
    if (action === 'stop' || action === 'detach') setState({ ...p.state, mode: 'idle' });
    out.textContent = action === 'rebuild' ? `Rebuild of ${id} requested; its progress shows above.` : `${words[action]} ${id}: done.`;
    if (action === 'start' || action === 'restart') followLogs(id, true);
  } catch (e) {
    out.textContent = `${words[action]} ${id} failed: ${e.message}`;
    out.classList.add('failed');
  } finally {
    renderDetail();
  }
}

// ---- logs --------------------------------------------------------------------------------------

const ANSI = /\x1b\[([0-9;]*)m/g;

function escapeHtml(s) {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));
}

/** The line with its colours (SGR codes) as spans; other escapes removed. */
function ansiToHtml(text) {
  let out = '';
  let open = false;
  let last = 0;
  let m;
  ANSI.lastIndex = 0;
  while ((m = ANSI.exec(text))) {
    out += escapeHtml(text.slice(last, m.index));
    last = ANSI.lastIndex;
    const codes = m[1].split(';').filter(Boolean).map(Number);
    if (open) { out += '</span>'; open = false; }
    const cls = codes
      .map((c) => (c === 1 ? 'a-b' : c === 3 ? 'a-i' : c === 4 ? 'a-u' : (c >= 30 && c <= 37) || (c >= 90 && c <= 97) ? 'a-' + c : ''))
      .filter(Boolean);
    if (cls.length) { out += `<span class="${cls.join(' ')}">`; open = true; }
  }
  out += escapeHtml(text.slice(last).replace(/\x1b\[[0-9;?]*[A-Za-z]/g, ''));
  if (open) out += '</span>';
  return out;
}

function plainText(text) {
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
}

function lineFilter() {
  const sources = new Set([...document.querySelectorAll('.sources input:checked')].map((i) => i.value));
  const min = LEVELS[$('level').value];
  const q = $('search').value;
  let match = () => true;
  if (q) {
    if ($('regex').checked) {
      try {
        const re = new RegExp(q, 'i');
        match = (t) => re.test(t);
        $('search').setCustomValidity('');
      } catch (e) {
        $('search').setCustomValidity(e.message);
        match = () => false;
      }
    } else {
      const needle = q.toLowerCase();
      match = (t) => t.toLowerCase().includes(needle);
    }
  }
  return (l) => sources.has(l.source) && LEVELS[l.level] >= min && match(text(l));
}

/** The line without its escapes (made when first needed: a search, or never). */
function text(l) {
  if (l.text === undefined) l.text = plainText(l.message);
  return l.text;
}

// The log is a virtual list: every kept line that passes the filters is in `page.shown`, but
// only the rows in view are in the document, so a flood costs the page the same as a trickle.
const ROW_PX = 17;
const OVERSCAN = 30;

function rowHtml(l) {
  if (l.html === undefined) l.html = ansiToHtml(l.message);
  const cls = l.level === 'warn' || l.level === 'error' ? ` class="${l.level}"` : '';
  const ts = $('timestamps').checked ? `<span class="ts">${l.ts} </span>` : '';
  return `<div${cls}>${ts}<span class="src">[${l.source}]</span> ${l.html}</div>`;
}

function paintLog() {
  const log = $('log');
  const spacer = $('log-spacer');
  const rows = $('log-rows');
  spacer.style.height = `${page.shown.length * ROW_PX}px`;
  if ($('follow').checked) log.scrollTop = log.scrollHeight;
  const first = Math.max(0, Math.floor(log.scrollTop / ROW_PX) - OVERSCAN);
  const count = Math.ceil(log.clientHeight / ROW_PX) + 2 * OVERSCAN;
  rows.style.transform = `translateY(${first * ROW_PX}px)`;
  rows.innerHTML = page.shown.slice(first, first + count).map(rowHtml).join('');
}

/** Filters the kept lines again (after a filter change) and shows them. */
function renderAllLines() {
  const keep = lineFilter();
  page.shown = page.lines.filter(keep);
  paintLog();
  countLines();
}

function countLines() {
  const flood = page.skippedLines + page.skipped;
  const skipped = flood ? ` · ${page.skippedLines} lines and ${page.skipped} batches skipped under a flood` : '';
  $('log-count').textContent = `${page.shown.length} of ${page.lines.length} lines kept (at most ${MAX_LINES})${skipped}`;
}

function scrollLog() {
  paintLog();
}

function takeBatches(deadline) {
  const keep = lineFilter();
  while (page.pending.length && performance.now() < deadline) {
    const entries = JSON.parse(page.pending.shift());
    for (const e of entries) {
      if (e.seq <= page.lastSeq) continue;
      page.lastSeq = e.seq;
      const l = {
        seq: e.seq,
        ts: new Date(e.timestamp).toLocaleTimeString([], CLOCK),
        source: e.source,
        level: e.level,
        message: e.message,
      };
      page.lines.push(l);
      if (keep(l)) page.shown.push(l);
    }
  }
}

function drawLogs() {
  page.drawing = false;
  if (!page.pending.length) return;
  takeBatches(performance.now() + FRAME_BUDGET_MS);
  if (page.lines.length > MAX_LINES) {
    page.lines.splice(0, page.lines.length - MAX_LINES);
    const oldest = page.lines[0].seq;
    let gone = 0;
    while (gone < page.shown.length && page.shown[gone].seq < oldest) gone++;
    if (gone) page.shown.splice(0, gone);
  }
  paintLog();
  countLines();
  if (page.pending.length) schedule();
}

function schedule() {
  if (!page.drawing) {
    page.drawing = true;
    requestAnimationFrame(drawLogs);
  }
}

function followLogs(id, fresh) {
  if (page.logs) page.logs.source.close();
  if (fresh || !page.logs || page.logs.id !== id) {
    page.lines = [];
    page.shown = [];
    page.pending = [];
    page.skipped = 0;
    page.skippedLines = 0;
    page.lastSeq = 0;
    paintLog();
    countLines();
  }
  // The server sends at most LOG_RATE lines a second: under a flood the page gets the newest
  // of each batch and a count of the others, never more than it can show.
  const q = new URLSearchParams({ max_rate: String(LOG_RATE) });
  if (page.lastSeq) q.set('since', String(page.lastSeq));
  const source = new EventSource(`${API}/plugins/${encodeURIComponent(id)}/logs/stream?${q}`);
  page.logs = { source, id };
  source.addEventListener('plugin/devserver/log', (ev) => {
    page.pending.push(ev.data);
    if (page.pending.length > MAX_PENDING_BATCHES) {
      // Only the newest lines can stay on screen anyway: skip the oldest batches unparsed.
      const drop = page.pending.length - MAX_PENDING_BATCHES;
      page.pending.splice(0, drop);
      page.skipped += drop;
    }
    schedule();
  });
  source.addEventListener('ovdev/events_missed', () => { page.skipped++; countLines(); });
  source.addEventListener('ovdev/lines_skipped', (ev) => {
    page.skippedLines += JSON.parse(ev.data).count;
    countLines();
  });
  source.onerror = () => {
    // Reconnects by itself while ovdev restarts; a closed stream (the plugin is gone) is
    // opened again when the plugin is.
    if (source.readyState === EventSource.CLOSED && page.logs && page.logs.source === source) page.logs = { source, id, closed: true };
  };
}

// ---- notifications -----------------------------------------------------------------------------

/** A notification when a plugin's build breaks, and one when it works again (a rebuild in
 * between does not count as recovered). */
function notifyChange(id, before, after, p) {
  const breaks = after === 'error' && !p.broken;
  const recovers = after === 'ready' && p.broken;
  if (after === 'error') p.broken = true;
  if (after === 'ready' || after === 'stopped') p.broken = false;
  if (!$('notify').checked || !('Notification' in window) || Notification.permission !== 'granted') return;
  if (before === null) return;
  if (breaks) {
    const first = p.state.lastError ? p.state.lastError.split('\n')[0] : '';
    new Notification(`${id}: build broken`, { body: first, tag: 'ovdev-' + id });
  } else if (recovers) {
    new Notification(`${id}: build fixed`, { body: 'It builds and runs again.', tag: 'ovdev-' + id });
  }
}

// ---- the event stream --------------------------------------------------------------------------

function setConnected(on) {
  page.connected = on;
  const c = $('connection');
  c.textContent = on ? 'connected to ovdev' : 'disconnected: reconnecting…';
  c.classList.toggle('down', !on);
  showOverall();
}

async function resync() {
  const states = await call('GET', '/plugins');
  const live = new Set(states.map((s) => s.pluginID));
  for (const [id, p] of page.plugins) if (!live.has(id) && !p.stopped) setState({ ...p.state, mode: 'idle' });
  for (const s of states) {
    setState(s);
    if (s.goStatus === 'error') loadErrors(s.pluginID);
  }
  if (!page.selected && states.length) select(states[0].pluginID);
}

function connect(lastEventId) {
  const q = new URLSearchParams({ name: STATUS_EVENTS.join(',') });
  if (lastEventId) q.set('lastEventId', lastEventId);
  const events = new EventSource(`${API}/events?${q}`);
  page.events = events;
  let lastId = lastEventId;
  events.onopen = () => {
    setConnected(true);
    resync().catch(() => {});
    if (page.selected && page.logs && page.logs.closed) followLogs(page.selected);
  };
  events.addEventListener('plugin/devserver/status', (ev) => {
    lastId = ev.lastEventId || lastId;
    const s = JSON.parse(ev.data);
    setState(s);
    if (s.pluginID === page.selected && (s.goStatus === 'ready' || s.goStatus === 'error')) loadBuilds();
  });
  events.addEventListener('plugin/devserver/error', (ev) => {
    lastId = ev.lastEventId || lastId;
    const payload = JSON.parse(ev.data);
    plugin(payload.pluginID).errors = payload.errors;
    if (payload.pluginID === page.selected) renderErrors(plugin(payload.pluginID));
  });
  events.addEventListener('plugin/dev_reload_error', (ev) => {
    lastId = ev.lastEventId || lastId;
    const [meta, error] = JSON.parse(ev.data);
    if (meta && meta.id === page.selected) {
      $('action-status').textContent = `Reload of ${meta.id} failed: ${error}`;
      $('action-status').classList.add('failed');
    }
  });
  events.addEventListener('ovdev/events_missed', () => resync().catch(() => {}));
  events.onerror = () => {
    setConnected(false);
    if (events.readyState === EventSource.CLOSED) {
      // Refused (ovdev restarted on another port or token): try again, resuming.
      setTimeout(() => connect(lastId), 1000);
    }
  };
}

// ---- wiring ----------------------------------------------------------------------------------

function init() {
  const fieldset = document.querySelector('.sources');
  for (const s of SOURCES) {
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.value = s;
    box.checked = true;
    box.addEventListener('change', renderAllLines);
    label.append(box, ' ' + s);
    fieldset.append(label);
  }
  for (const id of ['level', 'regex', 'timestamps']) $(id).addEventListener('change', renderAllLines);
  $('search').addEventListener('input', renderAllLines);
  $('follow').addEventListener('change', scrollLog);
  $('clear').addEventListener('click', () => { page.lines = []; page.shown = []; page.skipped = 0; paintLog(); countLines(); });
  $('log').addEventListener('scroll', () => {
    // Scrolling up leaves follow mode; back at the bottom, it follows again.
    const log = $('log');
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - ROW_PX;
    if ($('follow').checked !== atBottom) $('follow').checked = atBottom;
    requestAnimationFrame(paintLog);
  });
  const editor = localStorage.getItem('ovdev.editor');
  if (editor !== null) $('editor').value = editor;
  $('editor').addEventListener('change', () => {
    localStorage.setItem('ovdev.editor', $('editor').value);
    if (page.selected) renderErrors(plugin(page.selected));
  });
  $('notify').checked = localStorage.getItem('ovdev.notify') === '1';
  $('notify').addEventListener('change', async () => {
    if ($('notify').checked && 'Notification' in window && Notification.permission === 'default') {
      await Notification.requestPermission();
    }
    localStorage.setItem('ovdev.notify', $('notify').checked ? '1' : '0');
  });
  const rows = $('plugins').tBodies[0];
  rows.addEventListener('click', (e) => {
    const tr = e.target.closest('tr');
    if (tr && !e.target.closest('a')) select(tr.dataset.plugin);
  });
  rows.addEventListener('keydown', (e) => {
    const tr = e.target.closest('tr');
    if (!tr) return;
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); select(tr.dataset.plugin); }
    if (e.key === 'ArrowDown' && tr.nextElementSibling) tr.nextElementSibling.focus();
    if (e.key === 'ArrowUp' && tr.previousElementSibling) tr.previousElementSibling.focus();
  });
  for (const b of document.querySelectorAll('[data-action]')) b.addEventListener('click', () => act(b.dataset.action));
  showOverall();
  connect(null);
}

init();
