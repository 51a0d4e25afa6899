// Disclosure report: who was given a record, or what was disclosed under
// an agreement, from the audit log; and the signed evidence pack of the
// same entries to take away (its proofs are checked here before download).

import { api } from '../api.js';
import { h, field, table, when, problemBox, alertBox, loading, download } from '../dom.js';
import { verifyProof } from '../proof.js';
import { decisionOf, reasonNodes } from './audit.js';

function packProofs(pack) {
  const gws = new Map((pack.gateways || []).map((g) => [g.gateway, g]));
  return (pack.entries || []).map((e) => {
    const g = gws.get(e.gateway) || {};
    return { format: 'liaison-audit-inclusion-proof/v1', gateway: e.gateway, seq: e.seq, leaf: e.leaf, leaf_index: e.leaf_index,
      tree_size: g.tree_size, audit_path: e.audit_path, checkpoint: g.checkpoint, jwks: g.jwks };
  });
}

/** Checks every entry of an evidence pack with proof.js: [verified, failed labels]. */
export async function checkPack(pack, pinned) {
  let ok = 0;
  const failed = [];
  for (const p of packProofs(pack)) {
    const r = await verifyProof(p, { pinned });
    if (r.ok) ok++;
    else failed.push(`entry ${p.seq} of ${p.gateway}: ${r.checks.filter((c) => !c.ok).map((c) => c.label.toLowerCase()).join(', ')}`);
  }
  return [ok, failed];
}

// REPORTED are the operations the report lists, in words.
const REPORTED = { disclosure: 'Disclosure', consultation: 'Consultation', denial: 'Refused' };

function decisionCell(ev) {
  const [word, reasons] = decisionOf(ev);
  return h('td', null, h('span', { class: word === 'Allowed' ? 'ok' : 'bad', text: word }),
    word !== 'Allowed' && reasons.length ? h('span.sub', null, reasonNodes(reasons.slice(0, 2))) : null);
}

function summarise(items) {
  const n = (op) => items.filter((ev) => ev.operation === op).length;
  const part = (k, one, many) => (k ? `${k} ${k === 1 ? one : many}` : '');
  return [part(n('disclosure'), 'disclosure', 'disclosures'), part(n('consultation'), 'consultation', 'consultations'),
    part(n('denial'), 'refusal', 'refusals')].filter(Boolean).join(', ');
}

export async function render(root, ctx) {
  const q = ctx.params;
  const record = h('input', { type: 'text', name: 'record', value: q.get('record') || '', autocomplete: 'off' });
  const dsa = h('input', { type: 'text', name: 'dsa', value: q.get('dsa') || '', autocomplete: 'off' });
  const form = h('form.filters', { 'aria-label': 'Disclosure report for' },
    field('Record', record, 'A record id, such as rec_…'),
    h('p.or', { text: 'or' }),
    field('Agreement (DSA)', dsa, 'An agreement id, such as dsa-…'),
    h('div.actions', null, h('button', { type: 'submit', text: 'Show report' })));
  const out = h('div.results', { 'aria-live': 'polite' });
  root.append(h('h1', { text: 'Disclosures' }),
    h('p.lede', { text: 'Who was given a record, who consulted it and who was refused, or the same under an agreement: with purpose, justification and decision; and the signed evidence pack to take away.' }), form, out);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    if (record.value.trim()) p.set('record', record.value.trim());
    if (dsa.value.trim()) p.set('dsa', dsa.value.trim());
    const hash = '#/disclosures' + (p.size ? '?' + p : '');
    if (location.hash === hash) ctx.reload();
    else ctx.navigate(hash);
  });

  const rec = q.get('record') || '';
  const agr = q.get('dsa') || '';
  if (!rec && !agr) {
    out.append(h('p', { text: 'Give a record or an agreement.' }));
    return;
  }
  if (rec && agr) {
    out.append(alertBox('Give a record or an agreement, not both.'));
    return;
  }
  const subject = rec ? `record ${rec}` : `agreement ${agr}`;
  out.append(loading());
  const items = [];
  let after = q.get('after') || '';
  let page;
  try {
    page = await api('GET', '/v1/audit', { query: { record: rec, dsa: agr, after } });
  } catch (e) {
    if (ctx.current()) out.replaceChildren(problemBox(e));
    return;
  }
  if (!ctx.current()) return;
  // The report is about who saw what: disclosures, consultations and the
  // refused attempts (DPA 2018 s.62 logs all three). Publishing, reviews
  // and other changes to the record are in the audit log view.
  items.push(...page.items.filter((ev) => REPORTED[ev.operation]));
  const t = table('Disclosures', ['Entry', 'Time (UTC)', 'What', 'Who', 'Officer', 'Agreements', 'Purpose', 'Justification', 'Decision']);
  const frag = document.createDocumentFragment();
  for (const ev of items) {
    frag.append(h('tr', null,
      h('td.nowrap', null, h('a', { href: `#/audit/${ev.seq}`, text: `Entry ${ev.seq}` })),
      h('td.nowrap', { text: when(ev.time) }),
      h('td', null, REPORTED[ev.operation], ev.action ? h('span.code', { text: ` ${ev.action}` }) : null),
      h('td', { text: [ev.agency, ...(ev.recipient_ids || []).filter((r) => r !== ev.agency)].filter(Boolean).join(', ') }),
      h('td', { text: ev.officer || '' }),
      h('td.ids', { text: (ev.dsa_ids || []).join(', ') }),
      h('td', { text: ev.purpose || '' }),
      h('td', { text: ev.justification || '' }),
      decisionCell(ev)));
  }
  if (!items.length) frag.append(h('tr', null, h('td', { colSpan: 9, text: 'None.' })));
  t.tBodies[0].append(frag);
  const exp = h('button', { type: 'button', text: 'Export evidence pack' });
  const expStatus = h('p.small', { role: 'status' });
  exp.addEventListener('click', async () => {
    exp.disabled = true;
    expStatus.textContent = 'Preparing the signed evidence pack…';
    try {
      const blob = await api('POST', '/v1/audit/evidence', { body: rec ? { record: rec } : { dsa: agr }, blob: true });
      // Download the gateway's bytes exactly: the signature covers them.
      const name = `evidence-${(rec || agr).replace(/[^A-Za-z0-9._-]/g, '_')}.json`;
      let note = '';
      try {
        const pack = JSON.parse(await blob.text());
        const [ok, failed] = await checkPack(pack);
        note = failed.length
          ? ` Warning: ${failed.length} of its entries failed the check in this page: ${failed.slice(0, 3).join('; ')}.`
          : ` The ${ok} entr${ok === 1 ? 'y' : 'ies'} in it verified in this page${pack.unproven ? `; ${pack.unproven} newer entries are not yet covered by a signed checkpoint and are left out` : ''}.`;
      } catch {
        note = ' It could not be read back to check it.';
      }
      download(blob, name);
      expStatus.textContent = `Downloaded ${name}.${note} Check it offline with liaison audit check-pack.`;
    } catch (e) {
      expStatus.replaceChildren(problemBox(e));
    } finally {
      exp.disabled = false;
    }
  });
  const pager = h('div.pager');
  if (page.next_after) {
    const p = new URLSearchParams(q);
    p.set('after', page.next_after);
    const next = h('button', { type: 'button', text: 'Next page' });
    next.addEventListener('click', () => ctx.navigate('#/disclosures?' + p));
    pager.append(next);
  }
  out.replaceChildren(
    h('p.summary', { text: items.length ? `${summarise(items)} of ${subject}${page.next_after || after ? ' on this page' : ''}.` : `No disclosure, consultation or refusal of ${subject} in the part of the log you may see${page.next_after ? ' on this page' : ''}.` }),
    h('div.scroll', null, t), pager,
    h('div.export', null, exp, expStatus));
}
