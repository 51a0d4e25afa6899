// Charts of the audit log in the officer's scope (GET /v1/audit/stats):
// disclosures and denials per agreement per day, denials by reason, top
// requesting agencies, overdue reviews and requests. Each chart has a
// table of the same numbers for screen readers.

import { api } from '../api.js';
import { h, field, problemBox, loading } from '../dom.js';
import { hbar, columns } from '../charts.js';
import { dayBound } from './audit.js';

function numbers(caption, headers, rows) {
  return h('table.sr-only', null, h('caption', { text: caption }),
    h('thead', null, h('tr', null, headers.map((x) => h('th', { scope: 'col', text: x })))),
    h('tbody', null, rows.map((r) => h('tr', null, r.map((c, i) => (i === 0 ? h('th', { scope: 'row', text: String(c) }) : h('td', { text: String(c) })))))));
}

/** Every UTC day in [from, to), as YYYY-MM-DD (at most 400). */
export function daysBetween(from, to) {
  const out = [];
  const d = new Date(from);
  const end = new Date(to);
  if (Number.isNaN(d.getTime()) || Number.isNaN(end.getTime())) return out;
  d.setUTCHours(0, 0, 0, 0);
  while (d < end && out.length < 400) {
    out.push(d.toISOString().slice(0, 10));
    d.setUTCDate(d.getUTCDate() + 1);
  }
  return out;
}

function legend() {
  return h('p.legend', null, h('span.key.series-a-key', { 'aria-hidden': 'true' }), ' Disclosures ', h('span.key.series-b-key', { 'aria-hidden': 'true' }), ' Denials');
}

export async function render(root, ctx) {
  const q = ctx.params;
  const form = h('form.filters', { 'aria-label': 'Chart period' },
    field('From', h('input', { type: 'date', name: 'from', value: q.get('from') || '' }), 'Day, UTC'),
    field('To', h('input', { type: 'date', name: 'to', value: q.get('to') || '' }), 'Day, UTC, included'),
    field('Agreement (DSA)', h('input', { type: 'text', name: 'dsa', value: q.get('dsa') || '', autocomplete: 'off' })),
    h('div.actions', null, h('button', { type: 'submit', text: 'Show charts' })));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (String(v).trim()) p.set(k, String(v).trim());
    const hash = '#/charts' + (p.size ? '?' + p : '');
    if (location.hash === hash) ctx.reload();
    else ctx.navigate(hash);
  });
  const out = h('div.results', null, loading());
  root.append(h('h1', { text: 'Charts' }), h('p.lede', { text: 'What the audit log you may see says about disclosures, denials and overdue work. The last 30 days unless you choose a period.' }), form, out);
  let st;
  try {
    st = await api('GET', '/v1/audit/stats', { query: { from: dayBound(q.get('from'), false), to: dayBound(q.get('to'), true), dsa: q.get('dsa') } });
  } catch (e) {
    if (ctx.current()) out.replaceChildren(problemBox(e));
    return;
  }
  if (!ctx.current()) return;

  const period = `${(st.from || '').slice(0, 10)} to ${(st.to || '').slice(0, 10)}`;
  const sections = [h('p.summary', { text: `${st.entries} entries of gateway ${st.gateway} from ${period}.` })];

  // Per agreement per day.
  const days = daysBetween(st.from, st.to);
  const byDSA = new Map();
  for (const c of st.per_dsa_day || []) {
    if (!byDSA.has(c.dsa)) byDSA.set(c.dsa, new Map());
    byDSA.get(c.dsa).set(c.day, c);
  }
  const perDSA = h('section.chart-block', { 'aria-labelledby': 'c1' }, h('h2', { id: 'c1', text: 'Disclosures and denials per agreement per day' }), legend());
  if (!byDSA.size) perDSA.append(h('p', { text: 'No disclosures or denials in this period.' }));
  const multiples = h('div.multiples');
  perDSA.append(multiples);
  for (const [dsa, m] of byDSA) {
    const name = dsa || 'No agreement named';
    const series = (days.length ? days : [...m.keys()].sort()).map((day) => ({ day, a: m.get(day)?.disclosures || 0, b: m.get(day)?.denials || 0 }));
    const totA = series.reduce((n, d) => n + d.a, 0);
    const totB = series.reduce((n, d) => n + d.b, 0);
    multiples.append(h('div', null, h('h3', { text: name }),
      columns(series, { label: `${name}: ${totA} disclosures and ${totB} denials from ${period}, per day`, names: ['disclosures', 'denials'] }),
      numbers(`${name}: disclosures and denials per day`, ['Day', 'Disclosures', 'Denials'], series.filter((d) => d.a || d.b).map((d) => [d.day, d.a, d.b]))));
  }
  sections.push(perDSA);
  const grid = h('div.chart-grid');
  sections.push(grid);

  const reasons = st.denials_by_reason || [];
  grid.append(h('section.chart-block', { 'aria-labelledby': 'c2' }, h('h2', { id: 'c2', text: 'Denials by reason' }),
    hbar(reasons.map((r) => ({ label: r.message || r.code, value: r.count })), { label: `Denials by reason from ${period}: ` + (reasons.map((r) => `${r.message || r.code} ${r.count}`).join(', ') || 'none'), cls: 'series-b' }),
    numbers('Denials by reason', ['Reason', 'Code', 'Denials'], reasons.map((r) => [r.message || r.code, r.code, r.count]))));

  const top = st.top_agencies || [];
  grid.append(h('section.chart-block', { 'aria-labelledby': 'c3' }, h('h2', { id: 'c3', text: 'Top requesting agencies' }),
    hbar(top.map((a) => ({ label: a.agency || 'unknown', value: a.count })), { label: `Requests per agency from ${period}: ` + (top.map((a) => `${a.agency} ${a.count}`).join(', ') || 'none') }),
    numbers('Top requesting agencies', ['Agency', 'Requests'], top.map((a) => [a.agency, a.count]))));

  const overdue = [
    { label: 'Records past their review date', value: st.overdue_reviews || 0 },
    { label: 'Requests past their deadline', value: st.overdue_requests || 0 },
  ];
  grid.append(h('section.chart-block', { 'aria-labelledby': 'c4' }, h('h2', { id: 'c4', text: 'Overdue' }),
    hbar(overdue, { label: `Overdue: ${overdue[0].value} records past their review date, ${overdue[1].value} requests for information past their deadline`, cls: 'series-c' }),
    numbers('Overdue', ['What', 'How many'], overdue.map((o) => [o.label, o.value]))));
  out.replaceChildren(...sections);
}
