// charts.test.mjs — the auditor's charts: four headed charts, each an
// <svg role="img"> with a label and a table of the same numbers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { signedIn, go, shot, a11y, explain } from './lib.mjs';

test('an auditor sees the charts with their numbers as tables', async () => {
  const { page, close } = await signedIn('dev-auditor');
  try {
    await go(page, 'charts');
    for (const name of ['Disclosures and denials per agreement per day', 'Denials by reason', 'Top requesting agencies', 'Overdue']) {
      await page.getByRole('heading', { name, exact: true }).waitFor();
    }
    const imgs = page.locator('svg[role=img]');
    await imgs.first().waitFor();
    assert.ok(await imgs.count() >= 3, 'the charts are drawn');
    assert.ok(await page.locator('table').count() >= 3, 'each chart has a table of its numbers');
    await shot(page, 'charts');
    assert.deepEqual(await a11y(page), [], 'accessibility of the charts');
  } catch (e) {
    throw await explain(page, e);
  } finally {
    await close();
  }
});
