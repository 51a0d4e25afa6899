// Shadow report: the decisions a candidate policy would have made
// differently from the live one, grouped by action and by reason, each
// replayable in the decision explorer when the gateway recorded its input.

import { api } from '../api.js';
import { h, table, when, problemBox, loading } from '../dom.js';
import { REPLAY_KEY } from './explorer.js';

const words = (allow) => (allow ? 'Allowed' : 'Denied');
const codes = (list) => (list || []).map((c) => c.replace(/_/g, ' ')).join(', ');

/** The 12 hex characters after "sha256:" that name a recorded input. */
export function digestPrefix(d) {
  return String(d || '').replace(/^sha256:/, '').slice(0, 12);
}

export async function render(root, ctx) {
  const out = h('div.results', null, loading());
  root.append(h('h1', { text: 'Shadow report' }),
    h('p.lede', { text: 'A candidate policy runs beside the live one without deciding anything; here is every decision it would have made differently.' }), out);
  let rep;
  try {
    rep = await api('GET', '/v1/policy/shadow');
  } catch (e) {
    if (!ctx.current()) return;
    if (e.slug === 'shadow-off') out.replaceChildren(h('p', { text: 'No candidate policy is running in shadow mode, so there is nothing to compare.' }));
    else out.replaceChildren(problemBox(e));
    return;
  }
  if (!ctx.current()) return;
  const r = rep.report || {};
  const inputs = rep.inputs || {};
  const parts = [h('p.summary', { text: `Candidate ${r.candidate_revision || '?'} against live ${r.live_revision || '?'}: ${r.changed || 0} of ${r.inputs || 0} decisions would change.` })];

  const byAction = table('Changes by action', ['Action', 'Decisions', 'Changed', 'Allowed → denied', 'Denied → allowed', 'Other changes']);
  for (const a of r.by_action || []) byAction.tBodies[0].append(h('tr', null, [a.action, a.inputs, a.changed, a.allow_to_deny, a.deny_to_allow, a.other].map((c) => h('td', { text: String(c) }))));
  const byCode = table('Changes by reason', ['Reason', 'Appeared in', 'Disappeared from']);
  for (const c of r.by_code || []) byCode.tBodies[0].append(h('tr', null, h('td', null, c.code.replace(/_/g, ' '), h('span.code', { text: ` ${c.code}` })), h('td', { text: String(c.added) }), h('td', { text: String(c.removed) })));
  parts.push(h('div.two', null, h('div.scroll', null, byAction), h('div.scroll', null, byCode)));

  const t = table('Changed decisions', ['When', 'Action', 'Agency', 'Record', 'Live', 'Candidate', 'Reasons added', 'Reasons removed', 'Input']);
  const frag = document.createDocumentFragment();
  for (const c of r.changes || []) {
    const has = Object.prototype.hasOwnProperty.call(inputs, c.input_digest);
    frag.append(h('tr', null,
      h('td.nowrap', { text: when(c.time) }),
      h('td', { text: c.action }),
      h('td', { text: c.agency || '' }),
      h('td.ids', { text: c.record_id || '' }),
      h('td', { class: c.live.allow ? 'ok' : 'bad', text: words(c.live.allow) }),
      h('td', { class: c.candidate.allow ? 'ok' : 'bad', text: words(c.candidate.allow) }),
      h('td', { text: codes(c.codes_added) }),
      h('td', { text: codes(c.codes_removed) }),
      h('td', null, has
        ? h('button.compact', { type: 'button', 'data-digest': c.input_digest, text: `Replay ${digestPrefix(c.input_digest)}` })
        : h('span.small', { text: 'input not recorded' }))));
  }
  if (!(r.changes || []).length) frag.append(h('tr', null, h('td', { colSpan: 9, text: 'None.' })));
  t.tBodies[0].append(frag);
  // One listener for every Replay button.
  t.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-digest]');
    if (!b) return;
    const d = b.dataset.digest;
    let input = inputs[d];
    if (input && typeof input === 'object' && !Array.isArray(input) && Object.keys(input).length === 1 && input.input) input = input.input;
    sessionStorage.setItem(REPLAY_KEY, JSON.stringify({ digest: d, input }));
    ctx.navigate('#/explorer?input=' + encodeURIComponent(d));
  });
  parts.push(h('div.scroll', null, t));
  if ((r.malformed || []).length) parts.push(h('p.small', { text: `${r.malformed.length} recorded inputs could not be read and were skipped.` }));
  out.replaceChildren(...parts);
}
