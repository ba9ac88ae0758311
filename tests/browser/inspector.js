// Drives the request inspector page in Debian's Chromium (headless, via
// playwright-core): the list fills live without a reload, a request opens,
// replays, is edited and replayed; the local service must have received
// each replay. Writes screenshots (wide and narrow) as test artifacts.
//
//   INSPECT_URL=http://127.0.0.1:4040 PUBLIC_PORT=8080 PUBLIC_HOST=a.localhost \
//   LOCAL_PORT=8000 SHOT=build/artifacts/inspector.png node tests/browser/inspector.js
'use strict';
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const env = (k) => {
  if (!process.env[k]) throw new Error('missing ' + k);
  return process.env[k];
};
const INSPECT = env('INSPECT_URL');
const PUBLIC_PORT = Number(env('PUBLIC_PORT'));
const PUBLIC_HOST = env('PUBLIC_HOST');
const LOCAL_PORT = Number(env('LOCAL_PORT'));
const SHOT = env('SHOT');

function send(port, host, method, p, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: p,
      headers: Object.assign({ Host: host }, headers || {}) }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.setTimeout(10000, () => req.destroy(new Error('timeout ' + p)));
    if (body) req.write(body);
    req.end();
  });
}

function check(cond, msg) {
  if (!cond) throw new Error('check failed: ' + msg);
}

async function main() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'warren-chromium-'));
  const ctx = await chromium.launchPersistentContext(dataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 800 },
  });
  const external = [];
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    page.setDefaultTimeout(15000);
    // nothing may be fetched from anywhere but the inspector
    page.on('request', (r) => { if (!r.url().startsWith(INSPECT)) external.push(r.url()); });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(INSPECT + '/');
    await page.waitForFunction(() => document.getElementById('live').textContent === 'live');
    await page.evaluate(() => { window.__noReload = 1; });

    // requests through the public URL appear live
    let r = await send(PUBLIC_PORT, PUBLIC_HOST, 'GET', '/whoami?from=browser');
    check(r.status === 200, 'GET through the tunnel: ' + r.status);
    const payload = JSON.stringify({ from: 'browser', n: [1, 2] });
    r = await send(PUBLIC_PORT, PUBLIC_HOST, 'POST', '/record/browser', payload,
      { 'Content-Type': 'application/json', 'X-Test': 'browser' });
    check(r.status === 200, 'POST through the tunnel: ' + r.status);
    const row = page.locator('#rows tr', { has: page.locator('td.path', { hasText: '/record/browser' }) });
    await row.first().waitFor();
    await page.locator('#rows tr', { has: page.locator('td.path', { hasText: '/whoami?from=browser' }) }).first().waitFor();
    check(await page.evaluate(() => window.__noReload) === 1, 'the page reloaded');
    await page.waitForFunction(() => [...document.querySelectorAll('#rows tr')].some(
      (tr) => tr.querySelector('td.path').textContent.startsWith('/record/browser') &&
        tr.querySelector('td.status').textContent === '200'));
    const first = await page.locator('#rows tr td.path').first().textContent();
    check(first.startsWith('/record/browser'), 'newest first: top row is ' + first);

    // filtering by text and by status
    await page.fill('#q', 'whoami');
    check(await page.locator('#rows tr').count() === 1, 'text filter keeps one row');
    await page.fill('#q', '');
    await page.selectOption('#status', '4');
    check(await page.locator('#rows tr').count() === 0, 'status 4xx filter hides the 200s');
    await page.selectOption('#status', '');

    // the detail view: headers and the pretty-printed JSON body
    await row.first().click();
    await page.waitForFunction(() => document.getElementById('d-title').textContent.includes('POST /record/browser'));
    const reqBody = await page.locator('#d-req-body pre').textContent();
    check(reqBody.includes('"from": "browser"') && reqBody.includes('\n'), 'JSON body pretty-printed: ' + reqBody);
    const hdrs = await page.locator('#d-req-headers').textContent();
    check(hdrs.includes('X-Test') && hdrs.includes('browser'), 'request headers shown: ' + hdrs);
    check((await page.locator('#d-resp-body pre').textContent()).includes('recorded'), 'response body shown');
    const origId = Number((await page.locator('#d-title').textContent()).match(/#(\d+)/)[1]);

    // replay
    await page.click('#replay');
    await page.waitForFunction(() => /replayed as #\d+/.test(document.getElementById('d-msg').textContent));
    await page.locator('#rows tr .tag.replay', { hasText: 'replay of #' + origId }).first().waitFor();

    // edit and replay
    await page.click('#edit');
    await page.fill('#e-method', 'PUT');
    await page.fill('#e-path', '/record/edited-in-browser');
    await page.fill('#e-body', 'edited in the browser');
    await page.click('#e-send');
    await page.waitForFunction(() => /replayed as #\d+/.test(document.getElementById('d-msg').textContent) &&
      document.getElementById('editor').hidden);
    await page.locator('#rows tr td.path', { hasText: '/record/edited-in-browser' }).first().waitFor();
    await page.waitForFunction(() => [...document.querySelectorAll('#rows tr')].filter(
      (tr) => tr.querySelector('.tag.replay')).length === 2);

    // the keyboard: Esc closes, j moves, Enter opens
    await page.keyboard.press('Escape');
    check(await page.locator('#detail').isHidden(), 'Esc closes the detail');
    await page.locator('body').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('j');
    await page.keyboard.press('j');
    await page.keyboard.press('Enter');
    await page.locator('#detail').waitFor({ state: 'visible' });
    await page.waitForFunction(() => document.getElementById('d-title').textContent.startsWith('#1 '));
    check(await page.locator('#editor').isHidden(), 'the editor of another request stays open');

    // what the local service received: the original and both replays
    const seen = JSON.parse((await send(LOCAL_PORT, '127.0.0.1', 'GET', '/recorded')).body);
    const got = seen.map((s) => s.method + ' ' + s.path + ' ' + s.body);
    check(got.length === 3 && got[0] === 'POST /record/browser ' + payload && got[1] === got[0] &&
      got[2] === 'PUT /record/edited-in-browser edited in the browser',
      'local service received: ' + JSON.stringify(got));

    fs.mkdirSync(path.dirname(SHOT), { recursive: true });
    await page.screenshot({ path: SHOT, fullPage: true });
    await page.setViewportSize({ width: 420, height: 800 });
    await page.screenshot({ path: SHOT.replace(/\.png$/, '-narrow.png'), fullPage: true });
    check(errors.length === 0, 'page errors: ' + errors.join('; '));
    check(external.length === 0, 'fetched from outside: ' + external.join(' '));
    console.log('browser: ok, ' + got.length + ' requests at the local service, screenshot ' + SHOT);
  } finally {
    await ctx.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error('browser: FAIL ' + (e && e.stack ? e.stack : e));
  process.exit(1);
});
