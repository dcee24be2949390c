// The Dev Tools page with 100 plugins, one of them flooding a million log lines: clicks stay
// fast and the page's memory stays bounded. Run by tests/devtools.rs with OVDEV_BIN, ROOT
// (100 UI-only plugins p000..p099 and their fake package manager `pm`; p000 floods once a line
// is written to the FIFO ROOT/go), STATE_DIR and SHOTS set.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const { chromium } = createRequire(join(process.env.NODE_PATH, 'x.js'))('playwright-core');
const { OVDEV_BIN, ROOT, STATE_DIR, SHOTS } = process.env;
mkdirSync(SHOTS, { recursive: true });
const HANG = 240_000;
const PLUGINS = 100;
const ids = Array.from({ length: PLUGINS }, (_, i) => `p${String(i).padStart(3, '0')}`);

const port = await new Promise((resolve) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => { const { port: p } = s.address(); s.close(() => resolve(p)); });
});
const base = `http://127.0.0.1:${port}`;
const ovdev = spawn(OVDEV_BIN, ['dev', '--no-external', '--no-launch', '--api-addr', `127.0.0.1:${port}`,
  '--package-manager-path', join(ROOT, 'pm'), '--state-dir', STATE_DIR, ...ids.map((id) => join(ROOT, id))],
{ stdio: ['ignore', 'ignore', 'ignore'] });

async function until(what, f, timeout = HANG) {
  const end = Date.now() + timeout;
  for (;;) {
    try { if (await f()) return; } catch (_) { /* not yet */ }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

await until('the API', async () => (await fetch(`${base}/api/v1/plugins`)).status === 401);
const token = readFileSync(join(STATE_DIR, 'api-token'), 'utf8').trim();
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--enable-precise-memory-info'],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 850 } });
const errors = [];
page.on('pageerror', (e) => errors.push(e.message));
const row = (id) => page.locator(`#plugins tr[data-plugin="${id}"]`);

/** From a click on the plugin's row to the frame that shows its view, in milliseconds, as
 * the page measures it (a real click event; the time includes any work the page had queued). */
async function clickTime(id) {
  return page.evaluate((id) => new Promise((resolve) => {
    const tr = document.querySelector(`#plugins tr[data-plugin="${id}"]`);
    const start = performance.now();
    tr.dispatchEvent(new MouseEvent('click', { bubbles: true }));
    const check = () => {
      if (document.getElementById('detail-title').textContent === id) {
        requestAnimationFrame(() => setTimeout(() => resolve(performance.now() - start)));
      } else requestAnimationFrame(check);
    };
    check();
  }), id);
}

try {
  await page.goto(`${base}/ui/?token=${token}`);
  await until('100 ready plugins', async () => (await page.locator('#plugins tbody tr', { hasText: 'ready' }).count()) === PLUGINS);
  await clickTime('p000');
  writeFileSync(join(ROOT, 'go'), 'go\n');
  const kept = async () => Number((await page.locator('#log-count').textContent()).match(/of (\d+) lines/)[1]);
  await until('the flood on screen', async () => (await kept()) >= 5000);
  const times = [];
  for (const other of ['p042', 'p077', 'p099', 'p013', 'p055']) {
    times.push(Math.round(await clickTime(other)));
    await clickTime('p000'); // back to the flood
    await page.waitForTimeout(300);
  }
  const lastSeq = async () => (await (await page.request.get(`${base}/api/v1/plugins/p000/logs?tail=1`)).json())[0].seq;
  const during = await lastSeq();
  assert.ok(during < 1_000_000, `the flood was over before the clicks ended (seq ${during})`);
  console.log(`click → view during the flood (ms; the flood at line ${during}):`, times.join(', '));
  for (const t of times) assert.ok(t < 200, `a click took ${t} ms to render during the flood`);
  await until('the flood over', async () => (await lastSeq()) > 1_000_000);
  await page.waitForTimeout(1000);
  const lines = await kept();
  assert.ok(lines <= 10000 && lines >= 5000, `${lines} lines kept in the page`);
  const rows = await page.locator('#log-rows div').count();
  assert.ok(rows < 200, `${rows} rows in the document: only those in view`);
  const heap = await page.evaluate(() => performance.memory.usedJSHeapSize);
  console.log(`page after the flood: ${lines} lines, JS heap ${(heap / 1048576).toFixed(1)} MiB`);
  assert.ok(heap < 150 * 1048576, `JS heap ${heap} bytes`);
  await page.screenshot({ path: join(SHOTS, 'flood-100-plugins.png') });

  // An action that fails says why: a UI-only plugin has nothing to rebuild.
  await clickTime('p042');
  await page.getByRole('button', { name: 'Rebuild' }).click();
  await page.locator('#action-status.failed', { hasText: 'no Go backend' }).waitFor();
  assert.deepEqual(errors, [], 'no script errors');
  console.log('devtools flood: ok');
} finally {
  await browser.close();
  const done = new Promise((r) => ovdev.once('exit', r));
  ovdev.kill('SIGTERM');
  await done;
}
