// agreements.test.mjs — flow (f): a registry administrator suspends an
// agreement and activates it again, each with a reason, and sees the
// policy revision in force and the reload history.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env, signedIn, go, shot, a11y, explain } from './lib.mjs';

async function change(page, table, verb, id, why) {
  await table.getByRole('button', { name: `${verb} ${id}`, exact: true }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('textbox', { name: 'Reason' }).fill(why);
  await dialog.getByRole('button', { name: 'Confirm', exact: true }).click();
  await dialog.waitFor({ state: 'detached' });
}

test('a registry administrator suspends and re-activates an agreement', async () => {
  const id = env.fixture.suspend;
  const { page, close } = await signedIn('dev-registry');
  try {
    await go(page, 'agreements');
    const table = page.getByRole('table', { name: 'Agreements' });
    await table.getByRole('button', { name: `Suspend ${id}`, exact: true }).waitFor();
    await page.getByRole('heading', { name: 'Policy in force', exact: true }).waitFor();
    const history = page.getByRole('table', { name: 'Reload history' });
    await history.waitFor();
    await shot(page, 'agreements');
    assert.deepEqual(await a11y(page, [`Suspend ${id}`]), [], 'accessibility of the agreements view');
    const before = await history.getByRole('row').count();

    await change(page, table, 'Suspend', id, 'Review of the legacy agreement, ticket 14');
    await page.getByText(new RegExp(`${id}: active → suspended`)).waitFor();
    await table.getByRole('button', { name: `Activate ${id}`, exact: true }).waitFor();
    assert.match(await table.getByRole('row').filter({ hasText: id }).innerText(), /Suspended/);

    await change(page, table, 'Activate', id, 'Review done, ticket 14');
    await page.getByText(new RegExp(`${id}: suspended → active`)).waitFor();
    await table.getByRole('button', { name: `Suspend ${id}`, exact: true }).waitFor();

    // Each change is a reload of the policy data: the history shows them.
    await go(page, 'audit'); // leave and come back: the view reads it afresh
    await go(page, 'agreements');
    await history.waitFor();
    const rows = history.getByRole('row').filter({ has: page.getByRole('link', { name: /^Entry \d+$/ }) });
    await rows.first().waitFor();
    const after = await history.getByRole('row').count();
    assert.ok(after > before, `the reload history grew (${before} → ${after} rows)`);
    assert.match(await rows.first().innerText(), /Accepted/);
  } catch (e) {
    throw await explain(page, e);
  } finally {
    await close();
  }
});
