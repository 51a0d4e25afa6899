// Audit log: the entries of this gateway's log within the officer's audit
// scope (the policy decides the scope), filtered, a page at a time. Rows
// carry links, not listeners, so a page of any size costs no handlers.

import { api } from '../api.js';
import { h, field, select, table, when, problemBox, loading, OPERATIONS, operationWords } from '../dom.js';

const FILTERS = [
  ['record', 'Record'],
  ['agency', 'Agency'],
  ['officer', 'Officer'],
  ['dsa', 'Agreement (DSA)'],
];

/** YYYY-MM-DD (a day, UTC) → RFC 3339; "to" is the end of that day. */
export function dayBound(day, end) {
  if (!/^\d{4}-\d\d-\d\d$/.test(day || '')) return '';
  const t = new Date(day + 'T00:00:00Z');
  if (Number.isNaN(t.getTime())) return '';
  if (end) t.setUTCDate(t.getUTCDate() + 1);
  return t.toISOString().replace('.000Z', 'Z');
}

/** The decision an entry records, in words: [word, reasons]. */
export function decisionOf(ev) {
  const d = ev.decision;
  if (d && !d.allow) return ['Denied', d.reasons || []];
  // Refused after (or without) a policy decision: logged as a denial, with
  // the problem as "<type URL>: <detail>".
  const why = ev.error ? [{ message: ev.error.replace(/^https?:\/\/\S+?: /, '') }] : [];
  if (ev.operation === 'denial') return [`Denied by the gateway${ev.status ? ` (${ev.status})` : ''}`, why];
  if (ev.status && ev.status >= 400) return [`Failed (${ev.status})`, why];
  return ['Allowed', d?.reasons || []];
}

export function reasonNodes(reasons) {
  return reasons.map((r) => h('span.reason', null, r.message || r.code, r.message && r.code ? h('span.code', { text: ` ${r.code}` }) : null));
}

/** One row; plain DOM, no listener. */
export function row(ev) {
  const [word, reasons] = decisionOf(ev);
  return h('tr', null,
    h('td', null, h('a', { href: `#/audit/${ev.seq}`, text: `Entry ${ev.seq}` })),
    h('td.nowrap', { text: when(ev.time) }),
    h('td', null, operationWords(ev.operation), ev.action ? h('span.code', { text: ` ${ev.action}` }) : null),
    h('td', null, ev.agency || '', ev.officer ? h('span.sub', { text: ev.officer }) : null),
    h('td.ids', { text: (ev.record_ids || []).join(', ') }),
    h('td.ids', { text: (ev.dsa_ids || []).join(', ') }),
    h('td', null, h('span', { class: word === 'Allowed' ? 'ok' : 'bad', text: word }), reasons.length ? h('span.sub', null, reasonNodes(reasons.slice(0, 2))) : null));
}

export async function render(root, ctx) {
  if (ctx.arg === 'check') {
    const check = await import('./proofcheck.js');
    return check.render(root, ctx);
  }
  if (ctx.arg) {
    const entry = await import('./entry.js');
    return entry.render(root, ctx);
  }
  const q = ctx.params;
  const form = h('form.filters', { 'aria-label': 'Filter the audit log' });
  for (const [name, label] of FILTERS) form.append(field(label, h('input', { type: 'text', name, value: q.get(name) || '', autocomplete: 'off' })));
  form.append(field('Operation', select('operation', [['', 'Any'], ...OPERATIONS], q.get('operation') || '')));
  form.append(field('Decision', select('decision', [['', 'Any'], ['allowed', 'Allowed'], ['denied', 'Denied'], ['failed', 'Failed']], q.get('decision') || '')));
  form.append(field('From', h('input', { type: 'date', name: 'from', value: q.get('from') || '' }), 'Day, UTC'));
  form.append(field('To', h('input', { type: 'date', name: 'to', value: q.get('to') || '' }), 'Day, UTC, included'));
  form.append(h('div.actions', null, h('button', { type: 'submit', text: 'Filter' })));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (String(v).trim()) p.set(k, String(v).trim());
    const hash = '#/audit' + (p.size ? '?' + p : '');
    if (location.hash === hash) ctx.reload(); // the same filter: ask again
    else ctx.navigate(hash);
  });
  const out = h('div.results', { 'aria-live': 'polite' }, loading());
  root.append(h('h1', { text: 'Audit log' }),
    h('p.lede', null, 'Every request this gateway answered, as its tamper-evident log holds it. Open an entry to verify its proof, or ',
      h('a', { href: '#/audit/check', text: 'check a saved proof' }), '.'),
    form, out);

  const query = {};
  for (const [name] of FILTERS) query[name] = q.get(name);
  query.operation = q.get('operation');
  // The gateway filters by outcome (audit.Event.Outcome), with the same
  // rule decisionOf uses for the words, so every page is full.
  query.outcome = q.get('decision');
  query.from = dayBound(q.get('from'), false);
  query.to = dayBound(q.get('to'), true);
  query.after = q.get('after');
  let page;
  try {
    page = await api('GET', '/v1/audit', { query });
  } catch (e) {
    if (ctx.current()) out.replaceChildren(problemBox(e));
    return;
  }
  if (!ctx.current()) return;
  const items = page.items;
  const t = table('Audit entries', ['Entry', 'Time (UTC)', 'Operation', 'Agency and officer', 'Records', 'Agreements', 'Decision'], { cls: 'entries' });
  const body = t.tBodies[0];
  const frag = document.createDocumentFragment();
  for (const ev of items) frag.append(row(ev));
  if (!items.length) frag.append(h('tr', null, h('td', { colSpan: 7, text: 'None.' })));
  body.append(frag);
  const first = page.items[0]?.seq;
  const last = page.items[page.items.length - 1]?.seq;
  const summary = page.items.length
    ? `Entries ${first} to ${last} of gateway ${page.gateway}.`
    : q.get('after') ? 'No more entries.' : 'No entries match.';
  const nav = h('div.pager');
  if (q.get('after')) {
    const p = new URLSearchParams(q);
    p.delete('after');
    nav.append(h('a.button.secondary', { href: '#/audit' + (p.size ? '?' + p : ''), text: 'First page' }));
  }
  if (page.next_after) {
    const p = new URLSearchParams(q);
    p.set('after', page.next_after);
    const next = h('button', { type: 'button', text: 'Next page' });
    next.addEventListener('click', () => ctx.navigate('#/audit?' + p));
    nav.append(next);
  }
  out.replaceChildren(h('p.summary', { text: summary }), h('div.scroll', null, t), nav);
}
