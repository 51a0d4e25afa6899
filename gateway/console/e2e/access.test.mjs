// access.test.mjs — flow (e): an officer without an auditor role opens the
// audit log and is refused in the policy's plain words (role=alert); a
// browser without a session is sent to the identity provider.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env, open, signedIn, go, shot, explain } from './lib.mjs';

test('an analyst is refused the audit log in plain words', async () => {
  const { page, close } = await signedIn('dev-analyst');
  try {
    await go(page, 'audit');
    const alert = page.getByRole('alert');
    await alert.first().waitFor();
    const text = await alert.first().innerText();
    // The policy's own words for the reason (policies/data/explain.json).
    assert.match(text, /the audit log is for officers with an auditor role/, `the refusal says why in words: ${text}`);
    assert.doesNotMatch(text, /undefined|\[object|HTTP 403|^\s*403\s*$/, `the refusal is in words: ${text}`);
    assert.equal(await page.getByRole('table', { name: 'Audit entries' }).count(), 0, 'no entries shown');
    await shot(page, 'refused');
  } catch (e) {
    throw await explain(page, e);
  } finally {
    await close();
  }
});

test('a browser without a session is sent to the identity provider', async () => {
  const { page, close } = await open();
  try {
    await page.goto(`${env.url}/console/#/audit`);
    await page.getByRole('heading', { name: 'Dev identity provider' }).waitFor();
    assert.ok(new URL(page.url()).pathname.startsWith('/dev-idp/'), `at the IdP: ${page.url()}`);
    for (const o of ['dev-analyst', 'dev-auditor', 'dev-dpo', 'dev-security', 'dev-registry']) {
      await page.getByRole('button', { name: `Sign in as ${o}`, exact: true }).waitFor();
    }
    await shot(page, 'dev-idp');
    // The API behind the console answers 401 without a session.
    const status = await page.evaluate(async (u) => (await fetch(`${u}/console/session`)).status, env.url);
    assert.equal(status, 401);
  } catch (e) {
    throw await explain(page, e);
  } finally {
    await close();
  }
});
