// audit.test.mjs — flow (a): an auditor filters the audit log, opens an
// entry and verifies its inclusion proof in the page ("Verified"); with
// the proof answer rewritten in flight (one byte of the entry, or one
// hash of the audit path), the same page says "Failed".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env, signedIn, go, shot, a11y, flipChar, flipHexChar, explain } from './lib.mjs';

const PROOF = '**/console/api/v1/audit/proof?*';

async function verify(page) {
  await page.getByRole('button', { name: 'Verify proof', exact: true }).click();
  const status = page.getByRole('status', { name: 'Proof verification' });
  await assert.doesNotReject(status.filter({ hasText: /Verified|Failed/ }).waitFor(), 'no verdict');
  return status;
}

test('an auditor filters the log and verifies a proof in the page; a tampered proof fails', async () => {
  const { record } = env.fixture;
  const { page, close } = await signedIn('dev-auditor');
  try {
    await go(page, 'audit');
    const table = page.getByRole('table', { name: 'Audit entries' });
    await table.waitFor();
    await shot(page, 'audit-log');
    const problems = await a11y(page, ['Audit log', 'Record', 'Filter', 'Apply']);
    assert.deepEqual(problems, [], 'accessibility of the audit log');

    // Filter by the seeded record: only its entries are left.
    await page.getByLabel('Record', { exact: true }).fill(record);
    await page.getByRole('button', { name: 'Filter', exact: true }).click();
    await page.waitForURL((u) => u.hash.includes(`record=${record}`));
    const rows = table.getByRole('row').filter({ has: page.getByRole('link', { name: /^Entry \d+$/ }) });
    await rows.first().waitFor();
    const n = await rows.count();
    assert.ok(n >= 2, `the record has publish and read entries, got ${n} rows`);
    for (let i = 0; i < n; i++) assert.match(await rows.nth(i).innerText(), new RegExp(record));

    // Denied only: the hmrc read.
    await page.getByLabel('Decision', { exact: true }).selectOption({ label: 'Denied' });
    await page.getByRole('button', { name: 'Filter', exact: true }).click();
    await page.waitForURL((u) => u.hash.includes('decision=denied'));
    await rows.first().waitFor();
    for (let i = 0; i < await rows.count(); i++) assert.match(await rows.nth(i).innerText(), /Denied/);
    await page.getByLabel('Decision', { exact: true }).selectOption({ label: 'Any' });
    await page.getByRole('button', { name: 'Filter', exact: true }).click();
    await page.waitForURL((u) => !u.hash.includes('decision='));

    // Open the first entry and verify its proof.
    const link = rows.first().getByRole('link', { name: /^Entry \d+$/ });
    const seq = (await link.innerText()).replace('Entry ', '');
    await link.click();
    await page.getByRole('heading', { name: `Entry ${seq}`, exact: true }).waitFor();
    let status = await verify(page);
    const verdict = await status.innerText();
    assert.match(verdict, /Verified/, verdict);
    for (const check of ['leaf', 'path', 'root', 'size', 'signature', 'thumbprint']) {
      assert.match(verdict.toLowerCase(), new RegExp(check), `the checks list names the ${check} check: ${verdict}`);
    }
    assert.doesNotMatch(verdict, /Failed/);
    await shot(page, 'audit-entry-verified');
    assert.deepEqual(await a11y(page, ['Verify proof']), [], 'accessibility of the entry view');

    // One byte of the entry changed in flight: the leaf hash no longer
    // leads to the signed root.
    await page.route(PROOF, async (route) => {
      const resp = await route.fetch();
      const proof = await resp.json();
      const at = proof.leaf.indexOf(record);
      proof.leaf = flipChar(proof.leaf, at >= 0 ? at + record.length - 1 : Math.floor(proof.leaf.length / 2));
      await route.fulfill({ response: resp, json: proof });
    });
    status = await verify(page);
    let text = await status.innerText();
    assert.match(text, /Failed/, `a changed entry must fail: ${text}`);
    assert.doesNotMatch(text, /Verified/);
    await shot(page, 'audit-entry-tampered');
    await page.unroute(PROOF);

    // One hash of the audit path changed (when the path has one; with a
    // checkpoint after every entry the tree has more than one leaf by now).
    let pathLen = 0;
    await page.route(PROOF, async (route) => {
      const resp = await route.fetch();
      const proof = await resp.json();
      pathLen = proof.audit_path.length;
      if (pathLen) proof.audit_path[0] = flipHexChar(proof.audit_path[0], 0);
      await route.fulfill({ response: resp, json: proof });
    });
    status = await verify(page);
    text = await status.innerText();
    assert.ok(pathLen > 0, 'the proof has an audit path');
    assert.match(text, /Failed/, `a changed path hash must fail: ${text}`);
    await page.unroute(PROOF);

    // And the untouched proof verifies again (the failure was the tampering).
    status = await verify(page);
    assert.match(await status.innerText(), /Verified/);
  } catch (e) {
    throw await explain(page, e);
  } finally {
    await close();
  }
});
