// Consents: the agency's pending consent requests (an originator's
// permission for a further share), approved or refused here. Only the
// originator decides; the requester sees what it is waiting for.

import { api } from '../api.js';
import { h, table, when, problemBox, loading, askReason } from '../dom.js';

async function load(box, ctx, msg) {
  let list;
  try {
    list = await api('GET', '/v1/consents', { query: { state: 'pending' } });
  } catch (e) {
    if (ctx.current()) box.replaceChildren(problemBox(e));
    return;
  }
  if (!ctx.current()) return;
  const t = table('Pending consent requests', ['Request', 'Record', 'Asked by', 'For', 'Purpose and justification', 'Asked', 'Expires', 'Decision']);
  const frag = document.createDocumentFragment();
  for (const c of list.items) {
    const decide = c.role === 'originator'
      // The row already shows the request's id: the buttons say the verb,
      // and their accessible names say which request (a screen reader
      // reading one button alone still knows).
      ? [h('button.compact', { type: 'button', 'data-id': c.consent_id, 'data-change': 'approve', 'aria-label': `Approve ${c.consent_id}`, text: 'Approve' }), ' ',
        h('button.compact.secondary', { type: 'button', 'data-id': c.consent_id, 'data-change': 'refuse', 'aria-label': `Refuse ${c.consent_id}`, text: 'Refuse' })]
      : h('span.small', { text: 'Waiting for the originator' });
    frag.append(h('tr', null,
      h('td.ids', { text: c.consent_id }),
      h('td.ids', { text: c.record_id }),
      h('td', { text: c.requested_by }),
      h('td', { text: (c.recipients || []).join(', ') }),
      h('td', null, c.purpose, c.justification ? h('span.sub', { text: c.justification }) : null, c.note ? h('span.sub', { text: c.note }) : null,
        (c.previous_refusals || []).length ? h('span.sub', { text: `Refused before: ${c.previous_refusals.map((r) => r.consent_id).join(', ')}` }) : null),
      h('td.nowrap', { text: when(c.created) }),
      h('td.nowrap', { text: when(c.expires) }),
      h('td', null, decide)));
  }
  if (!list.items.length) frag.append(h('tr', null, h('td', { colSpan: 8, text: 'No pending requests.' })));
  t.tBodies[0].append(frag);
  t.addEventListener('click', async (e) => {
    const b = e.target.closest('button[data-change]');
    if (!b) return;
    const { id, change } = b.dataset;
    let opts = {};
    if (change === 'refuse') {
      const reason = await askReason(`Refuse ${id}`, 'The requester is told the request was refused.');
      if (reason === null) {
        b.focus();
        return;
      }
      opts = { justification: reason };
    }
    for (const x of t.querySelectorAll(`button[data-id="${CSS.escape(id)}"]`)) x.disabled = true;
    try {
      const r = await api('POST', `/v1/consents/${encodeURIComponent(id)}/${change}`, opts);
      msg.replaceChildren(h('p', { text: r.state === 'approved'
        ? `Approved ${id}: record ${r.record_id} is now shared with ${(r.recipients || []).join(', ')}.`
        : `Refused ${id}.` }));
      await load(box, ctx, msg);
      box.querySelector('button[data-change]')?.focus();
    } catch (err) {
      for (const x of t.querySelectorAll(`button[data-id="${CSS.escape(id)}"]`)) x.disabled = false;
      msg.replaceChildren(problemBox(err));
    }
  });
  box.replaceChildren(h('div.scroll', null, t));
}

export async function render(root, ctx) {
  const msg = h('div.result', { role: 'status' });
  const box = h('div', null, loading());
  root.append(h('h1', { text: 'Consents' }),
    h('p.lede', { text: 'Requests to share your agency\'s records further, which need your agency\'s consent as originator.' }), msg, box);
  await load(box, ctx, msg);
}
