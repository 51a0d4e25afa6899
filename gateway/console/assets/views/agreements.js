// Agreements: the register of data-sharing agreements (suspend and
// activate, each with a reason that goes to the audit log), the policy
// revision in force and the history of policy reloads.

import { api } from '../api.js';
import { h, table, when, problemBox, loading, askReason } from '../dom.js';

const STATUS_WORDS = { active: 'In force', suspended: 'Suspended', terminated: 'Terminated' };

async function agreements(box, ctx, msg) {
  let list;
  try {
    list = await api('GET', '/v1/registry/dsas');
  } catch (e) {
    if (ctx.current()) box.replaceChildren(problemBox(e));
    return;
  }
  if (!ctx.current()) return;
  const t = table('Agreements', ['Agreement', 'Parties', 'Purposes', 'Status', 'Version', 'Review date', 'Expiry date', 'Change']);
  const today = new Date().toISOString().slice(0, 10); // dates are compared as the policy does, in UTC
  const frag = document.createDocumentFragment();
  for (const d of list.items) {
    let action = null;
    if (d.status === 'active') action = h('button.compact', { type: 'button', 'data-id': d.id, 'data-change': 'suspend', text: `Suspend ${d.id}` });
    else if (d.status === 'suspended') action = h('button.compact', { type: 'button', 'data-id': d.id, 'data-change': 'activate', text: `Activate ${d.id}` });
    frag.append(h('tr', null,
      h('td', null, h('strong', { text: d.title || d.id }), d.title ? h('span.sub.code', { text: d.id }) : null),
      h('td', { text: (d.parties || []).join(', ') }),
      h('td', { text: (d.purposes || []).join(', ') }),
      h('td', { class: d.status === 'active' && !(d.expiry_date && d.expiry_date < today) ? 'ok' : 'bad',
        text: (STATUS_WORDS[d.status] || d.status) + (d.status === 'active' && d.expiry_date && d.expiry_date < today ? ', but expired' : '') + (d.changed_by_registry ? ' (changed in the registry)' : '') }),
      h('td', { text: d.version || '' }),
      h('td.nowrap', null, d.review_date || '', d.review_date && d.review_date < today ? h('span.sub.bad', { text: 'review overdue' }) : null),
      h('td.nowrap', null, d.expiry_date || '', d.expiry_date && d.expiry_date < today ? h('span.sub.bad', { text: 'expired' }) : null),
      h('td', null, action)));
  }
  if (!list.items.length) frag.append(h('tr', null, h('td', { colSpan: 8, text: 'None.' })));
  t.tBodies[0].append(frag);
  t.addEventListener('click', async (e) => {
    const b = e.target.closest('button[data-change]');
    if (!b) return;
    const { id, change } = b.dataset;
    const reason = await askReason(`${change === 'suspend' ? 'Suspend' : 'Activate'} ${id}`,
      change === 'suspend' ? 'While suspended, nothing is shared under this agreement.' : 'Sharing under this agreement resumes.');
    if (reason === null) {
      b.focus();
      return;
    }
    b.disabled = true;
    try {
      const r = await api('POST', `/v1/registry/dsas/${encodeURIComponent(id)}/${change}`, { justification: reason });
      msg.replaceChildren(h('p', { text: r.unchanged ? `${id} was already ${r.new}.` : `${id}: ${r.old} → ${r.new} (registry version ${r.registry_version}).` }));
      await agreements(box, ctx, msg);
      // The row was redrawn: keep the keyboard where it was.
      box.querySelector(`button[data-id="${CSS.escape(id)}"]`)?.focus();
    } catch (err) {
      b.disabled = false;
      msg.replaceChildren(problemBox(err));
    }
  });
  box.replaceChildren(h('div.scroll', null, t), h('p.small', { text: `Registry version ${list.registry_version}.` }));
}

async function policyInForce(box, ctx) {
  let p;
  try {
    p = await api('GET', '/v1/policy');
  } catch (e) {
    if (ctx.current()) box.replaceChildren(problemBox(e));
    return;
  }
  if (!ctx.current()) return;
  const loaded = p.loaded_at && !p.loaded_at.startsWith('0001-') ? ` loaded ${when(p.loaded_at)}` : '';
  const parts = [h('p', null, 'Revision ', h('code', { text: p.revision }), `${loaded} from ${p.source}.`)];
  if (p.shadow) parts.push(h('p', null, 'Candidate ', h('code', { text: p.shadow.candidate_revision }), ` runs in shadow mode since ${when(p.shadow.since)}. `, h('a', { href: '#/shadow', text: 'See the shadow report' })));
  box.replaceChildren(...parts);
}

async function reloads(box, ctx) {
  let r;
  try {
    r = await api('GET', '/v1/policy/reloads');
  } catch (e) {
    if (ctx.current()) box.replaceChildren(problemBox(e));
    return;
  }
  if (!ctx.current()) return;
  const t = table('Reload history', ['Entry', 'When', 'What', 'Outcome', 'Revision', 'Trigger', 'Details']);
  const frag = document.createDocumentFragment();
  for (const it of r.items) {
    frag.append(h('tr', null,
      h('td', null, h('a', { href: `#/audit/${it.seq}`, text: `Entry ${it.seq}` })),
      h('td.nowrap', { text: when(it.time) }),
      h('td', { text: it.kind === 'data' ? 'Policy data' : it.kind === 'suite' ? 'Policy and data' : 'Policy' }),
      h('td', { class: it.applied ? 'ok' : 'bad', text: it.applied ? 'Accepted' : 'Rejected' }),
      h('td', null, it.old_revision ? h('code', { text: it.old_revision }) : null, it.new_revision ? [' → ', h('code', { text: it.new_revision })] : null),
      h('td', { text: it.trigger }),
      h('td', null, (it.reasons || []).length ? h('ul.reasons', null, it.reasons.map((x) => h('li', null, x.message || x.code, x.message && x.code ? h('span.code', { text: ` ${x.code}` }) : null))) : null)));
  }
  if (!r.items.length) frag.append(h('tr', null, h('td', { colSpan: 7, text: 'No reloads since the log began.' })));
  t.tBodies[0].append(frag);
  box.replaceChildren(h('div.scroll', null, t));
}

export async function render(root, ctx) {
  const msg = h('div.result', { role: 'status' });
  const a = h('div', null, loading());
  const p = h('div', null, loading());
  const r = h('div', null, loading());
  root.append(h('h1', { text: 'Agreements' }),
    h('p.lede', { text: 'The data-sharing agreements this gateway enforces, the policy in force and every change to it.' }),
    h('section', { 'aria-labelledby': 'ag-h' }, h('h2', { id: 'ag-h', text: 'Agreement register' }), msg, a),
    h('section', { 'aria-labelledby': 'pol-h' }, h('h2', { id: 'pol-h', text: 'Policy in force' }), p),
    h('section', { 'aria-labelledby': 'rel-h' }, h('h2', { id: 'rel-h', text: 'Reloads' }), r));
  await Promise.all([agreements(a, ctx, msg), policyInForce(p, ctx), reloads(r, ctx)]);
}
