// evidence.test.mjs — flow (b): a data protection officer reads the
// disclosure report of a record and exports its signed evidence pack; the
// browser's download is saved for the Go harness, which verifies it
// offline with audit.CheckPack (browser_console_test.go).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { env, signedIn, go, shot, a11y, explain } from './lib.mjs';

test('a DPO exports the evidence pack of a record', async () => {
  const { record } = env.fixture;
  const { page, close } = await signedIn('dev-dpo');
  try {
    await go(page, 'disclosures');
    await page.getByLabel('Record', { exact: true }).fill(record);
    await page.getByRole('button', { name: 'Show report', exact: true }).click();
    const table = page.getByRole('table', { name: 'Disclosures' });
    await table.waitFor();
    const rows = table.getByRole('row').filter({ has: page.getByRole('link', { name: /^Entry \d+$/ }) });
    await rows.first().waitFor();
    assert.match(await rows.first().innerText(), /rocu-nw/, 'the disclosure to rocu-nw is listed');
    // The refused attempt is part of the report, with its decision in words.
    const refused = rows.filter({ hasText: 'hmrc' });
    assert.equal(await refused.count(), 1, 'the refused read by hmrc is listed');
    const text = await refused.innerText();
    assert.match(text, /Refused/);
    assert.match(text, /Denied/);
    assert.match(text, /neither the originator nor a recipient/);
    assert.deepEqual(await a11y(page, ['Record', 'Show report', 'Export evidence pack']), [], 'accessibility of the disclosure report');

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Export evidence pack', exact: true }).click(),
    ]);
    assert.equal(download.suggestedFilename(), `evidence-${record}.json`);
    const saved = join(env.out, download.suggestedFilename());
    await download.saveAs(saved);
    const pack = JSON.parse(readFileSync(saved, 'utf8'));
    assert.ok(pack.format && pack.signature && pack.entries?.length, 'a signed pack with entries');
    // The page checked the pack's proofs itself before handing it over.
    await page.getByText(/Downloaded evidence-.*verified in this page/).waitFor();
    await shot(page, 'disclosures');
  } catch (e) {
    throw await explain(page, e);
  } finally {
    await close();
  }
});
