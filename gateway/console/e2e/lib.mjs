// lib.mjs — what every console spec shares: the gateway's address and the
// agency's client certificate (from the environment the Go harness
// gateway/console/browser_test.go writes), a Debian Chromium driven by
// playwright-core (no browser download), and the sign-in through the dev
// identity provider.
//
// How the client certificate reaches the gateway: playwright-core's
// `clientCertificates` context option. Playwright runs a local SOCKS proxy
// for the context; for the listed origin, the proxy (Node's TLS, OpenSSL)
// makes the TLS connection to the gateway presenting the agency's
// certificate and key, and Chromium speaks TLS to the proxy, which answers
// with a throw-away self-signed certificate that Playwright tells Chromium
// to accept (it sets its internal ignore-HTTPS-errors for such a context;
// there is no option to turn that off). The gateway's own certificate is
// still verified — by the proxy, against the dev CA, which the harness
// adds with NODE_EXTRA_CA_CERTS (we do NOT set ignoreHTTPSErrors, so a
// gateway certificate from another CA fails the page). So the mutual-TLS
// handshake the gateway sees is real and refuses a browser without the
// certificate (mtls.test.mjs proves both), but it is made by the Node side
// of Playwright, not by Chromium's own TLS stack; see docs/console.md.

import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

/** need returns the environment variable or throws naming it. */
export function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the specs through the Go harness (go test ./gateway/console/ -run Browser)`);
  return v;
}

/** env is what the harness passes. */
export const env = {
  get url() { return need('LIAISON_CONSOLE_URL'); },          // https://localhost:PORT (no trailing slash)
  get cert() { return need('LIAISON_CONSOLE_CLIENT_CERT'); }, // the agency's client certificate (PEM)
  get key() { return need('LIAISON_CONSOLE_CLIENT_KEY'); },
  get ca() { return need('LIAISON_CONSOLE_CA'); },            // the dev CA (also in NODE_EXTRA_CA_CERTS)
  get chromium() { return need('LIAISON_TEST_CHROMIUM'); },
  get agency() { return need('LIAISON_CONSOLE_AGENCY'); },
  /** fixture: facts the harness seeded (ids of records, DSAs, consent requests). */
  get fixture() { return JSON.parse(process.env.LIAISON_CONSOLE_FIXTURE || '{}'); },
  /** out: where specs write files the harness checks after (downloads). */
  get out() { return need('LIAISON_CONSOLE_OUT'); },
  /** screenshots: where the main views are captured at 1280×800 (unset: none). */
  get screenshots() { return process.env.LIAISON_CONSOLE_SCREENSHOTS || ''; },
};

// Flags for a quiet, reproducible headless Chromium: no sandbox (we run
// as root in CI), no GPU, no QUIC (the gateway speaks TCP only), nothing
// that calls home.
export const chromiumArgs = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/**
 * open launches Chromium with a fresh profile and returns a context with a
 * 1280×800 viewport. withCert false: no client certificate (the handshake
 * must then fail); ignoreHTTPSErrors only for that test; extraArgs are
 * Chromium switches one spec needs on top of chromiumArgs.
 */
export async function open({ withCert = true, ignoreHTTPSErrors = false, extraArgs = [] } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'liaison-chromium-'));
  const options = {
    executablePath: env.chromium,
    headless: true,
    args: [...chromiumArgs, ...extraArgs],
    viewport: { width: 1280, height: 800 },
    acceptDownloads: true,
    locale: 'en-GB',
    timezoneId: 'UTC',
    ignoreHTTPSErrors,
  };
  if (withCert) {
    options.clientCertificates = [{ origin: env.url, certPath: env.cert, keyPath: env.key }];
  }
  const context = await chromium.launchPersistentContext(profile, options);
  const close = async () => {
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  };
  const page = context.pages()[0] ?? await context.newPage();
  watch(page);
  context.on('page', watch);
  // 30 s: generous for a 2-core CI machine running other tests beside.
  page.setDefaultTimeout(Number(process.env.LIAISON_CONSOLE_TIMEOUT_MS || 30000));
  return { context, page, close };
}

// What only a real browser shows: a Content-Security-Policy violation (an
// inline script or style, a load from elsewhere) and an uncaught
// exception in the page. Every page opened here is watched; a spec file
// fails at its end if any was seen.
const pageProblems = [];
let watching = false;
function watch(page) {
  page.on('console', (m) => {
    if (/Content Security Policy|Content-Security-Policy/i.test(m.text())) pageProblems.push(`CSP: ${m.text()} (${page.url()})`);
  });
  page.on('pageerror', (e) => pageProblems.push(`uncaught in the page: ${e.message} (${page.url()})`));
  if (!watching) {
    watching = true;
    after(() => assert.deepEqual(pageProblems, [], 'no CSP violation and no uncaught exception in any page'));
  }
}

/** takePageProblems returns what the watch saw so far and forgets it (its own test). */
export function takePageProblems() {
  return pageProblems.splice(0);
}

/**
 * login signs officer in: /console/ sends a browser without a session to
 * /console/login, which redirects to the dev identity provider's page;
 * the officer's button brings it back to the console, signed in.
 */
export async function login(page, officer) {
  await page.goto(`${env.url}/console/`);
  await page.getByRole('heading', { name: 'Dev identity provider' }).waitFor();
  await page.getByRole('button', { name: `Sign in as ${officer}`, exact: true }).click();
  try {
    await page.waitForURL((u) => u.pathname.startsWith('/console/') && !u.pathname.startsWith('/console/login') && !u.pathname.startsWith('/console/callback'));
    await page.getByText(`Signed in as ${officer}`).waitFor();
  } catch (e) {
    e.message = `signing in as ${officer}: ${e.message}`;
    throw await explain(page, e);
  }
}

// The first-level heading of each view: go waits for it, so that a spec
// never types into the view that was on screen before.
const HEADINGS = {
  audit: 'Audit log', disclosures: 'Disclosures', charts: 'Charts', explorer: 'Decision explorer',
  shadow: 'Shadow report', agreements: 'Agreements', consents: 'Consents',
};

/** go opens a hash route of the console (#/audit…) in a signed-in page and waits for its view. */
export async function go(page, route) {
  await page.goto(`${env.url}/console/#/${route}`);
  const name = HEADINGS[route.split(/[/?]/)[0]];
  if (name) await page.getByRole('heading', { level: 1, name, exact: true }).waitFor();
}

/** shot writes page's screenshot as NAME.png when screenshots are asked for. */
export async function shot(page, name) {
  const dir = env.screenshots;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: false });
}

/**
 * a11y checks the accessibility basics of the page as it is: every form
 * control has an accessible name (a label), every button and link a name,
 * every table a caption, and Tab from the top of the page reaches each
 * control named in mustReach (by accessible name). It returns the list of
 * problems (empty: fine) so that the spec's assertion shows them all.
 */
export async function a11y(page, mustReach = []) {
  const problems = await page.evaluate(() => {
    const out = [];
    const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length) &&
      getComputedStyle(el).visibility !== 'hidden';
    const named = (el) => {
      const aria = el.getAttribute('aria-label');
      if (aria && aria.trim()) return true;
      const by = el.getAttribute('aria-labelledby');
      if (by && by.split(/\s+/).some((id) => document.getElementById(id)?.textContent.trim())) return true;
      if (el.labels && [...el.labels].some((l) => l.textContent.trim())) return true;
      if (el.title && el.title.trim()) return true;
      return false;
    };
    for (const el of document.querySelectorAll('input, select, textarea')) {
      if (el.type === 'hidden' || !visible(el)) continue;
      if (!named(el)) out.push(`form control without a label: ${el.outerHTML.slice(0, 120)}`);
    }
    for (const el of document.querySelectorAll('button, a[href], [role=button]')) {
      if (!visible(el)) continue;
      if (!(el.textContent.trim() || named(el))) out.push(`${el.tagName.toLowerCase()} without a name: ${el.outerHTML.slice(0, 120)}`);
    }
    for (const t of document.querySelectorAll('table')) {
      if (!t.querySelector('caption')?.textContent.trim() && !named(t)) out.push(`table without a caption: ${t.outerHTML.slice(0, 80)}`);
    }
    for (const s of document.querySelectorAll('svg[role=img]')) {
      if (!named(s)) out.push('svg role=img without an aria-label');
    }
    if (!document.documentElement.lang) out.push('<html> has no lang');
    return out;
  });
  if (mustReach.length) {
    // Tab through the page from its start and note the accessible name of
    // each focused element (at most 300 presses: a page with more stops is
    // a problem of its own).
    await page.evaluate(() => { document.activeElement?.blur(); window.scrollTo(0, 0); });
    const seen = new Set();
    for (let i = 0; i < 300; i++) {
      await page.keyboard.press('Tab');
      const name = await page.evaluate(() => {
        const el = document.activeElement;
        if (!el || el === document.body) return null;
        const lbl = el.getAttribute('aria-label') || (el.labels && el.labels[0]?.textContent) || el.textContent || el.value || '';
        return lbl.trim().replace(/\s+/g, ' ');
      });
      if (name) seen.add(name);
      if (mustReach.every((n) => seen.has(n))) break;
    }
    for (const n of mustReach) if (!seen.has(n)) problems.push(`Tab does not reach "${n}"`);
  }
  return problems;
}

/**
 * reason fills the "Reason for access" form (the console sends it as
 * Liaison-Purpose / Liaison-Justification on every call) and applies it.
 * purpose '' keeps the console's default.
 */
export async function reason(page, justification = 'Console browser test, issue 14', purpose = '') {
  if (purpose) await page.getByLabel('Purpose', { exact: true }).selectOption(purpose);
  await page.getByLabel('Justification', { exact: true }).fill(justification);
  await page.getByRole('button', { name: 'Apply', exact: true }).click();
}

/** signedIn opens a browser, signs officer in and applies a reason. */
export async function signedIn(officer, opts = {}) {
  const b = await open(opts);
  try {
    await login(b.page, officer);
    await reason(b.page);
  } catch (e) {
    await b.close();
    throw e;
  }
  return b;
}

/** flipHexChar returns s with the hex digit at i changed (0↔1, a↔b, …). */
export function flipHexChar(s, i) {
  const c = s[i];
  const v = parseInt(c, 16);
  if (Number.isNaN(v)) throw new Error(`not a hex digit at ${i}: ${c}`);
  return s.slice(0, i) + (v ^ 1).toString(16) + s.slice(i + 1);
}

/** flipChar returns s with the character at i changed in its low bit (one byte, still ASCII). */
export function flipChar(s, i) {
  return s.slice(0, i) + String.fromCharCode(s.charCodeAt(i) ^ 1) + s.slice(i + 1);
}

/**
 * explain adds what the page shows (its URL, alerts and main text) to a
 * failed assertion, so that a failure in CI says what the officer saw.
 */
export async function explain(page, err) {
  try {
    const seen = await page.evaluate(() => {
      const alerts = [...document.querySelectorAll('[role=alert]')].map((a) => a.innerText.trim()).filter(Boolean);
      const main = (document.querySelector('main') || document.body)?.innerText || '';
      return `URL ${location.href}\nalerts: ${JSON.stringify(alerts)}\nmain: ${main.slice(0, 1500)}`;
    });
    if (env.screenshots || process.env.LIAISON_CONSOLE_OUT) {
      await page.screenshot({ path: join(env.out, `failure-${Date.now()}.png`) }).catch(() => {});
    }
    const more = `\n--- what the page showed ---\n${seen}`;
    err.message += more;
    if (err.stack) err.stack += more;
  } catch {
    // the page is gone: the error says enough
  }
  return err;
}
