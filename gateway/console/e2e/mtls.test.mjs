// mtls.test.mjs — the first thing to know: does a Chromium driven this way
// get through the agency listener's mutual TLS? With the agency's client
// certificate the gateway answers (its own problem+json for a call without
// a token); without one the handshake fails and the page never loads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env, open } from './lib.mjs';

test('with the agency certificate the gateway answers over mutual TLS', async () => {
  const { page, close } = await open();
  try {
    const resp = await page.goto(`${env.url}/v1/audit`);
    assert.ok(resp, 'no response');
    assert.equal(resp.status(), 401, `status ${resp.status()}: ${await resp.text()}`);
    assert.match(resp.headers()['content-type'] ?? '', /application\/problem\+json/);
    const body = await resp.json();
    assert.equal(body.status, 401);
    assert.match(body.type, /^https:\/\/liaison\.dev\/problems\//, `not the gateway's problem type: ${body.type}`);
  } finally {
    await close();
  }
});

test('without a client certificate the handshake is refused', async () => {
  // ignoreHTTPSErrors only so that the one thing missing is the client
  // certificate (Chromium does not know the dev CA): the failure must be
  // the gateway refusing the handshake, not Chromium refusing the server.
  const { page, close } = await open({ withCert: false, ignoreHTTPSErrors: true });
  try {
    await assert.rejects(page.goto(`${env.url}/v1/audit`), (err) => {
      console.log(`without a certificate: ${String(err.message).split('\n')[0]}`);
      assert.match(String(err.message), /net::ERR_/, `unexpected error: ${err.message}`);
      return true;
    });
  } finally {
    await close();
  }
});
