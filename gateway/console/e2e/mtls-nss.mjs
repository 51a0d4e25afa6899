// mtls-nss.mjs — the other way to give Chromium the agency's certificate:
// Chromium's OWN TLS stack, with the certificate and key in an NSS
// database ($HOME/.pki/nssdb, made by the harness with certutil and
// pk12util) and the dev CA trusted there. No Playwright proxy: the page
// talks to the gateway directly. Chromium picks the certificate without
// asking only under the managed policy AutoSelectCertificateForUrls (a
// file in /etc/chromium/policies/managed/; see docs/console.md); without
// it, headless Chromium waits for a choice nobody makes and the page
// times out. Run by TestBrowserMutualTLSNSS (not a *.test.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { env, chromiumArgs } from './lib.mjs';

test('Chromium presents the agency certificate from its NSS database', async () => {
  const profile = mkdtempSync(join(tmpdir(), 'liaison-chromium-'));
  const args = [...chromiumArgs];
  if (process.env.LIAISON_CONSOLE_AUTOSELECT) args.push(process.env.LIAISON_CONSOLE_AUTOSELECT);
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: env.chromium, headless: true, args,
    env: { ...process.env, HOME: need('LIAISON_CONSOLE_NSS_HOME') },
  });
  try {
    const page = context.pages()[0] ?? await context.newPage();
    let resp, err;
    try {
      resp = await page.goto(`${env.url}/v1/audit`, { timeout: 15000 });
    } catch (e) {
      err = e;
    }
    console.log(`NSS: ${resp ? resp.status() + ' ' + (await resp.text()).slice(0, 120) : String(err?.message).split('\n')[0]}`);
    assert.ok(resp, 'the page loaded');
    // The gateway's own answer to a call without a token (401, or 403 for
    // an agency the policy lets call without one): the handshake passed.
    assert.ok([401, 403].includes(resp.status()), `status ${resp.status()}`);
    assert.match((await resp.json()).type, /^https:\/\/liaison\.dev\/problems\//);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
});

function need(n) {
  const v = process.env[n];
  if (!v) throw new Error(`${n} is not set`);
  return v;
}
