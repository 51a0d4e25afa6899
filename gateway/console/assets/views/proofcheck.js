// Check a saved proof or evidence pack (a file from `liaison audit prove`,
// "Save this proof" or "Export evidence pack") in the page, with the same
// checks as the entry view. Nothing is sent to the gateway.

import { h, field, alertBox } from '../dom.js';
import { verifyProof } from '../proof.js';
import { checkPack } from './disclosures.js';
import { showVerdict, PIN } from './entry.js';

export async function render(root) {
  const file = h('input', { type: 'file', name: 'proof', accept: '.json,application/json' });
  const pinned = h('input', { type: 'text', name: 'pinned', value: localStorage.getItem(PIN) || '', autocomplete: 'off', spellcheck: false });
  const status = h('div.proof-status', { role: 'status', 'aria-label': 'Proof verification' }, h('p', { text: 'No proof checked yet.' }));
  const checks = h('ul.checks', { 'aria-label': 'Checks' });
  const details = h('div.proof-details');
  const form = h('form', { 'aria-label': 'Saved proof' },
    field('Proof or evidence pack file', file, 'A JSON file: an inclusion proof or a signed evidence pack. It stays in this browser.'),
    field('Pinned key thumbprint (optional)', pinned, 'The audit key thumbprint your gateway operator gave you.'),
    h('div.actions', null, h('button', { type: 'submit', text: 'Check proof' })));
  root.append(h('p.crumb', null, h('a', { href: '#/audit', text: 'Audit log' })), h('h1', { text: 'Check a saved proof' }),
    h('p.lede', { text: 'The page checks the file itself, as it checks a proof on an entry\'s page.' }), form, status, details);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    details.replaceChildren();
    const f = file.files?.[0];
    if (!f) {
      status.replaceChildren(alertBox('Choose a file.'));
      return;
    }
    let doc;
    try {
      doc = JSON.parse(await f.text());
    } catch {
      status.replaceChildren(h('p.verdict.bad', { text: 'Failed: the file is not JSON.' }));
      return;
    }
    const pin = pinned.value.trim();
    if (doc?.format === 'liaison-audit-evidence/v1') {
      const [ok, failed] = await checkPack(doc, pin);
      const n = (doc.entries || []).length;
      status.replaceChildren(
        h('p', { class: failed.length || !n ? 'verdict bad' : 'verdict ok', text: failed.length
          ? `Failed: ${failed.length} of ${n} entries.`
          : n ? `Verified: all ${ok} entries of the pack are in their gateway's signed log.` : 'Failed: the pack holds no entries.' }),
        h('ul.checks', null, failed.map((x) => h('li.fail', null, h('span.mark', { text: 'Failed' }), ' ', x))),
        h('p.small', { text: 'The pack\'s own signature (by the exporting gateway) is checked by liaison audit check-pack.' }));
      return;
    }
    const r = await verifyProof(doc, { pinned: pin });
    showVerdict(status, checks, details, r, `entry ${doc.seq} is in the log of ${doc.gateway} as signed at tree size ${doc.tree_size}`);
  });
}
