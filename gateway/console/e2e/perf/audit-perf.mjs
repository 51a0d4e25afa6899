// audit-perf.mjs — run by TestBrowserAuditPerf against a gateway whose log
// holds 10,000 entries (not a *.test.mjs: the flow suite does not run it).
// It measures the audit view's first load in a signed-in browser with the
// HTTP cache off: the bytes transferred (Chrome DevTools Protocol
// Network.loadingFinished encodedDataLength: headers and body as received,
// per request), and the time from navigation start to the first row of
// the "Audit entries" table (a MutationObserver installed before the page's
// own scripts notes performance.now(), which counts from the navigation's
// time origin). Times are reported, never asserted; the weight is held to
// a budget (LIAISON_CONSOLE_FIXTURE.page_limit).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { env, signedIn } from '../lib.mjs';

function firstRowProbe() {
  // Runs in the page before its scripts (Playwright init script; not
  // subject to the page's CSP).
  const mark = () => {
    const row = document.querySelector('table tbody tr a[href^="#/audit/"]');
    if (row && !window.__liaisonFirstRow) {
      window.__liaisonFirstRow = performance.now();
      return true;
    }
    return false;
  };
  new MutationObserver((_, obs) => { if (mark()) obs.disconnect(); })
    .observe(document, { childList: true, subtree: true });
}

async function measure(context, url) {
  const page = await context.newPage();
  await page.addInitScript(firstRowProbe);
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  const reqs = new Map();
  cdp.on('Network.responseReceived', (e) => {
    reqs.set(e.requestId, { url: e.response.url, status: e.response.status, type: e.type, bytes: 0 });
  });
  cdp.on('Network.loadingFinished', (e) => {
    const r = reqs.get(e.requestId);
    if (r) r.bytes = e.encodedDataLength;
  });
  await page.goto(url);
  await page.getByRole('table', { name: 'Audit entries' }).getByRole('link', { name: /^Entry \d+$/ }).first().waitFor();
  await page.waitForLoadState('networkidle');
  const t = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    return {
      firstRowMs: window.__liaisonFirstRow,
      domContentLoadedMs: nav?.domContentLoadedEventEnd,
      loadMs: nav?.loadEventEnd,
      rows: document.querySelectorAll('table tbody tr').length,
    };
  });
  await cdp.detach();
  await page.close();
  const list = [...reqs.values()].filter((r) => r.url.startsWith(env.url));
  const total = list.reduce((s, r) => s + r.bytes, 0);
  return { ...t, requests: list.length, bytes: total, byRequest: list.map((r) => ({ path: new URL(r.url).pathname + new URL(r.url).search, status: r.status, type: r.type, bytes: r.bytes })) };
}

test('the audit view with 10,000 entries: page weight and time to first row', async () => {
  const { context, close } = await signedIn('dev-auditor');
  try {
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push(await measure(context, `${env.url}/console/#/audit`));
    const first = runs[0];
    console.log(`audit view, first load, cache off: ${first.requests} requests, ${first.bytes} bytes, ${first.rows} rows`);
    for (const r of first.byRequest) console.log(`  ${r.bytes}\t${r.status}\t${r.type}\t${r.path}`);
    console.log(`time to first table row (ms from navigation start), 3 loads: ${runs.map((r) => r.firstRowMs?.toFixed(0)).join(', ')}`);
    console.log(`DOMContentLoaded (ms): ${runs.map((r) => r.domContentLoadedMs?.toFixed(0)).join(', ')}`);
    writeFileSync(join(env.out, 'perf.json'), JSON.stringify({ entries: env.fixture.entries, runs }, null, 2));
    assert.ok(first.rows > 0, 'the table has rows');
    for (const r of first.byRequest) assert.ok(r.status < 400, `${r.path} answered ${r.status}`);
    const budget = env.fixture.page_limit;
    assert.ok(budget > 0, 'the harness gives a page-weight budget');
    assert.ok(first.bytes > 0 && first.bytes <= budget, `page weight ${first.bytes} bytes, budget ${budget}`);
  } finally {
    await close();
  }
});
