// security.test.mjs — flow (c): a security officer asks the decision
// explorer about an example input ("Allowed"/"Denied" with the reasons in
// words), reads the shadow report (the harness runs a candidate policy
// that wants 40-character justifications, and a read with a shorter one:
// one changed decision), and replays that decision's recorded input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env, signedIn, go, shot, a11y, explain } from './lib.mjs';

async function decide(page) {
  await page.getByRole('button', { name: 'Decide', exact: true }).click();
  const status = page.getByRole('status', { name: 'Decision' });
  await status.filter({ hasText: /Allowed|Denied/ }).waitFor();
  return status.innerText();
}

test('a security officer explores a decision, reads the shadow report and replays a change', async () => {
  const { record } = env.fixture;
  const { page, close } = await signedIn('dev-security');
  try {
    await go(page, 'explorer');
    const example = page.getByLabel('Example', { exact: true });
    await example.waitFor();
    const options = await example.locator('option').allInnerTexts();
    assert.ok(options.length >= 2, `examples to pick from: ${options}`);
    await example.selectOption({ index: 1 });
    const input = page.getByLabel('Policy input (JSON)', { exact: true });
    assert.ok((await input.inputValue()).includes('"action"'), 'the example filled the input');
    const verdict = await decide(page);
    assert.match(verdict, /^(Allowed|Denied)/);
    assert.ok(verdict.split('\n').filter((l) => l.trim()).length >= 2, `the decision is explained in words: ${verdict}`);
    await shot(page, 'decision-explorer');
    assert.deepEqual(await a11y(page, ['Example', 'Policy input (JSON)', 'Decide']), [], 'accessibility of the explorer');

    // Bad JSON is said so, and nothing is decided.
    await input.fill('{ not json');
    await page.getByRole('button', { name: 'Decide', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: /not valid JSON/ }).waitFor();

    await go(page, 'shadow');
    await page.getByRole('heading', { name: 'Shadow report', exact: true }).waitFor();
    const changed = page.getByRole('table', { name: 'Changed decisions' });
    await changed.waitFor();
    // The read of the seeded record (the explorer's dry runs are compared
    // too, so other rows may be there).
    const row = changed.getByRole('row').filter({ hasText: record }).filter({ has: page.getByRole('button', { name: /^Replay [0-9a-f]{12}$/ }) });
    const replay = row.first().getByRole('button', { name: /^Replay [0-9a-f]{12}$/ });
    await replay.waitFor();
    const rowText = await row.first().innerText();
    assert.match(rowText, new RegExp(record), `the changed decision is the read of ${record}: ${rowText}`);
    assert.match(rowText, /Allowed[\s\S]*Denied/, `live allowed, candidate denied: ${rowText}`);
    await shot(page, 'shadow-report');
    assert.deepEqual(await a11y(page), [], 'accessibility of the shadow report');

    const name = await replay.innerText();
    await replay.click();
    await page.waitForURL((u) => u.hash.startsWith('#/explorer?input='));
    await page.getByText(`Loaded the recorded input ${name.replace('Replay ', '')}`).waitFor();
    const replayed = JSON.parse(await page.getByLabel('Policy input (JSON)', { exact: true }).inputValue());
    assert.equal(replayed.record?.record_id, record, 'the recorded input is the read of the seeded record');
    // The live policy (8 characters) allows what the candidate (40) denied.
    assert.match(await decide(page), /^Allowed/);
  } catch (e) {
    throw await explain(page, e);
  } finally {
    await close();
  }
});
