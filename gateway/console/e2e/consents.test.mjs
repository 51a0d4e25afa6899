// consents.test.mjs — flow (d): an officer of the originating agency
// approves a pending consent request (seeded by the harness: rocu-nw
// asked to share a met-police record with the NCA).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env, signedIn, go, shot, a11y, explain } from './lib.mjs';

test('the originator approves a consent request', async () => {
  const { consent } = env.fixture;
  assert.ok(consent, 'the harness seeded a consent request');
  const { page, close } = await signedIn('dev-analyst');
  try {
    await go(page, 'consents');
    const table = page.getByRole('table', { name: 'Pending consent requests' });
    await table.waitFor();
    const approve = table.getByRole('button', { name: `Approve ${consent}`, exact: true });
    await approve.waitFor();
    await table.getByRole('button', { name: `Refuse ${consent}`, exact: true }).waitFor();
    await shot(page, 'consents');
    assert.deepEqual(await a11y(page, [`Approve ${consent}`, `Refuse ${consent}`]), [], 'accessibility of the consents view');

    // Refuse opens a dialog asking for a reason; Cancel leaves it pending.
    await table.getByRole('button', { name: `Refuse ${consent}`, exact: true }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('textbox', { name: 'Reason' }).waitFor();
    await dialog.getByRole('button', { name: 'Cancel', exact: true }).click();
    await dialog.waitFor({ state: 'detached' });

    await approve.click();
    await page.getByText(new RegExp(`Approved ${consent}: record rec_\\w+ is now shared with [\\w, -]*\\bnca\\b`)).waitFor();
    await approve.waitFor({ state: 'detached' });
    assert.equal(await table.getByRole('button', { name: `Approve ${consent}` }).count(), 0, 'no longer pending');
  } catch (e) {
    throw await explain(page, e);
  } finally {
    await close();
  }
});
