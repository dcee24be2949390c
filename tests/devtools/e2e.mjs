// The Dev Tools page in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core) against a real `ovdev dev` on a copy of the example plugin.
// Run by tests/devtools.rs: node e2e.mjs with OVDEV_BIN, PLUGIN_DIR, STATE_DIR, SHOTS set.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { readFileSync, writeFileSync, mkdirSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

// playwright-core lives in target/api-tools (NODE_PATH), which ESM imports do not search.
const { chromium } = createRequire(join(process.env.NODE_PATH, 'x.js'))('playwright-core');

const { OVDEV_BIN, PLUGIN_DIR, STATE_DIR, SHOTS } = process.env;
mkdirSync(SHOTS, { recursive: true });
const HANG = 120_000;

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
let ovdev = null;

function startOvdev() {
  ovdev = spawn(OVDEV_BIN, ['dev', '--no-color', '--api-addr', `127.0.0.1:${port}`, '--state-dir', STATE_DIR, PLUGIN_DIR], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  ovdev.stderr.on('data', () => {});
}

async function stopOvdev() {
  const done = new Promise((r) => ovdev.once('exit', r));
  ovdev.kill('SIGTERM');
  await done;
}

async function until(what, f, timeout = HANG) {
  const end = Date.now() + timeout;
  for (;;) {
    try { if (await f()) return; } catch (_) { /* not yet */ }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function token() {
  return readFileSync(join(STATE_DIR, 'api-token'), 'utf8').trim();
}

startOvdev();
await until('the API', async () => (await fetch(`${base}/api/v1/plugins`)).status === 401);

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
const context = await browser.newContext({ viewport: { width: 1400, height: 850 } });
// Desktop notifications: granted, and recorded as the page creates them.
await context.grantPermissions(['notifications'], { origin: base });
await context.addInitScript(() => {
  window.__notes = [];
  const Real = window.Notification;
  window.Notification = class extends Real {
    constructor(title, options) {
      super(title, options);
      window.__notes.push(title);
    }
  };
});
const page = await context.newPage();
const errors = [];
page.on('pageerror', (e) => errors.push(e.message));
const shot = (name) => page.screenshot({ path: join(SHOTS, name) });
const row = (id) => page.locator(`#plugins tr[data-plugin="${id}"]`);
const favicon = () => page.locator('#favicon').getAttribute('data-status');

try {
  // No token, or a wrong one: no data.
  let res = await page.goto(`${base}/ui/`);
  assert.equal(res.status(), 401);
  assert.match(await page.content(), /needs ovdev's token/);
  res = await page.goto(`${base}/ui/?token=${'0'.repeat(64)}`);
  assert.equal(res.status(), 401);
  res = await page.request.get(`${base}/api/v1/plugins`);
  assert.equal(res.status(), 401);
  await shot('no-token.png');

  // The printed address: the token becomes a cookie and leaves the address bar.
  await page.goto(`${base}/ui/?token=${token()}`);
  assert.equal(page.url(), `${base}/ui/`);
  await row('hello-plugin').filter({ hasText: 'ready' }).waitFor({ timeout: HANG });
  await until('the favicon green', async () => (await favicon()) === 'ready');
  assert.match(await page.title(), /ready/);
  await page.locator('#detail-title', { hasText: 'hello-plugin' }).waitFor();
  await shot('overview.png');

  // ANSI colours become spans (the escapes never reach the screen).
  const html = await page.evaluate(() => ansiToHtml('\x1b[31mred\x1b[0m <b>\x1b[1mbold\x1b[22m'));
  assert.equal(html, '<span class="a-31">red</span> &lt;b&gt;<span class="a-b">bold</span>');

  // Opt in to notifications: one when the build breaks, one when it recovers.
  await page.getByLabel('Notify when a build breaks or recovers').check();

  // A syntax error shows in the error list within a second of its event, with file:line:col.
  await page.evaluate(() => {
    window.__seen = {};
    const es = new EventSource('/api/v1/events?name=plugin/devserver/error');
    es.addEventListener('plugin/devserver/error', () => { window.__seen.event ??= performance.now(); });
    new MutationObserver(() => {
      if (document.querySelector('#errors li.error')) window.__seen.listed ??= performance.now();
    }).observe(document.getElementById('errors'), { childList: true, subtree: true });
  });
  const greeting = join(PLUGIN_DIR, 'pkg/greeting/greeting.go');
  const good = readFileSync(greeting, 'utf8');
  const line = good.split('\n').length + 1;
  writeFileSync(greeting, `${good}\nfunc broken() { return 1 }\n`);
  const item = page.locator('#errors li.error');
  await item.first().waitFor({ timeout: HANG });
  const text = await item.first().textContent();
  assert.ok(text.includes(`greeting.go:${line}:`), text);
  assert.ok(text.includes('too many return values'), text);
  const href = await item.first().locator('a').getAttribute('href');
  assert.ok(href.startsWith('vscode://file/') && href.includes(`greeting.go:${line}:`), href);
  await until('both timestamps', () => page.evaluate(() => window.__seen.event && window.__seen.listed));
  const lag = await page.evaluate(() => window.__seen.listed - window.__seen.event);
  assert.ok(lag < 1000, `the error list followed its event after ${lag} ms`);
  await until('the favicon red', async () => (await favicon()) === 'error');
  assert.match(await page.title(), /^✖ 1 broken/);
  await shot('build-error.png');

  // The fix clears it.
  writeFileSync(greeting, good);
  await page.locator('#errors li.none').waitFor({ timeout: HANG });
  await until('the favicon green again', async () => (await favicon()) === 'ready');
  await until('both notifications', async () => {
    const notes = await page.evaluate(() => window.__notes);
    return notes.includes('hello-plugin: build broken') && notes.includes('hello-plugin: build fixed');
  });

  // The Rebuild button builds (a new row in the history, triggered by hand).
  const builds = page.locator('#builds tbody tr');
  await until('the fix in the history', async () => (await builds.count()) >= 3);
  const before = await builds.count();
  await page.getByRole('button', { name: 'Rebuild' }).click();
  await page.locator('#action-status', { hasText: 'Rebuild of hello-plugin requested' }).waitFor();
  await until('a manual build in the history', async () => (await builds.count()) > before
    && (await builds.first().textContent()).includes('manual'));

  // Log filters and search.
  for (const s of ['vite', 'go-watch', 'manager', 'plugin']) await page.getByLabel(s, { exact: true }).uncheck();
  const lines = page.locator('#log-rows div');
  await until('go-build lines only', async () => {
    const all = await lines.allTextContents();
    return all.length > 0 && all.every((l) => l.includes('[go-build]'));
  });
  await page.getByLabel('Search').fill('succeeded');
  await until('the search', async () => {
    const all = await lines.allTextContents();
    return all.length >= 2 && all.every((l) => l.includes('build succeeded'));
  });
  await page.getByLabel('regex').check();
  await page.getByLabel('Search').fill('build (failed|succeeded)');
  await until('the regex', async () => {
    const all = await lines.allTextContents();
    return all.some((l) => l.includes('failed')) && all.every((l) => /build (failed|succeeded)/.test(l));
  });
  await shot('logs-filtered.png');
  await page.getByLabel('Search').fill('');
  for (const s of ['vite', 'go-watch', 'manager', 'plugin']) await page.getByLabel(s, { exact: true }).check();

  // Clear empties the view; new lines come in again.
  await page.getByRole('button', { name: 'Clear' }).click();
  assert.match(await page.locator('#log-count').textContent(), /^0 of 0 lines/);

  // Stop, then Start again from the page (the stopped plugin stays listed with its directory).
  await page.getByRole('button', { name: 'Stop' }).click();
  await row('hello-plugin').filter({ hasText: 'stopped' }).waitFor({ timeout: HANG });
  assert.equal(await page.getByRole('button', { name: 'Start', exact: true }).isEnabled(), true);

  // Meanwhile the developer runs the built plugin by hand (`ovdev serve-external`): ovdev
  // attaches by itself; Detach and Attach from the page; its end leaves it stopped.
  const external = spawn(OVDEV_BIN, ['serve-external', '--id', 'hello-plugin', '--state-dir', STATE_DIR, '--',
    join(STATE_DIR, 'plugins/hello-plugin/bin/plugin')], { stdio: 'ignore' });
  try {
    await row('hello-plugin').filter({ hasText: 'external' }).filter({ hasText: 'ready' }).waitFor({ timeout: HANG });
    await page.getByRole('button', { name: 'Detach' }).click();
    await row('hello-plugin').filter({ hasText: 'stopped' }).waitFor({ timeout: HANG });
    await page.getByRole('button', { name: 'Attach' }).click();
    await page.locator('#action-status', { hasText: 'Attaching hello-plugin: done' }).waitFor({ timeout: HANG });
    await row('hello-plugin').filter({ hasText: 'external' }).filter({ hasText: 'ready' }).waitFor({ timeout: HANG });
    await shot('external.png');
  } finally {
    external.kill('SIGTERM');
  }
  await row('hello-plugin').filter({ hasText: 'stopped' }).waitFor({ timeout: HANG });
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await page.locator('#action-status', { hasText: 'Starting hello-plugin: done' }).waitFor({ timeout: HANG });
  await row('hello-plugin').filter({ hasText: 'ready' }).waitFor({ timeout: HANG });
  await until('log lines of the new run', async () => (await lines.count()) > 0);

  // Dark mode, for a person to look at.
  await page.emulateMedia({ colorScheme: 'dark' });
  await shot('dark.png');
  await page.emulateMedia({ colorScheme: 'light' });

  // Keyboard: the row is reachable and selects with Enter.
  await row('hello-plugin').focus();
  await page.keyboard.press('Enter');
  assert.equal(await row('hello-plugin').getAttribute('aria-selected'), 'true');

  // ovdev stops: the page says so; it comes back: the page reconnects by itself.
  await stopOvdev();
  await page.locator('#connection', { hasText: 'disconnected' }).waitFor({ timeout: HANG });
  await until('the favicon grey', async () => (await favicon()) === 'disconnected');
  await shot('disconnected.png');
  startOvdev();
  await page.locator('#connection', { hasText: 'connected to ovdev' }).waitFor({ timeout: HANG });
  await row('hello-plugin').filter({ hasText: 'ready' }).waitFor({ timeout: HANG });
  await until('the favicon green after the restart', async () => (await favicon()) === 'ready');
  await shot('reconnected.png');
  assert.deepEqual(errors, [], 'no script errors');
  console.log('devtools e2e: ok');
} finally {
  await browser.close();
  if (ovdev && ovdev.exitCode === null) await stopOvdev();
  const left = existsSync(join(STATE_DIR, 'run')) ? readdirSync(join(STATE_DIR, 'run')) : [];
  if (left.length) console.log('left in run/:', left);
}
