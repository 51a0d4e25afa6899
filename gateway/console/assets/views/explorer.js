// Decision explorer: what the policy in force decides for an input, and
// why, in words (POST /v1/decisions, a dry run for security officers: it
// changes nothing and is itself audited). Inputs can be picked from
// examples, pasted, or replayed from the shadow report.

import { api } from '../api.js';
import { h, field, select, problemBox, alertBox } from '../dom.js';

export const REPLAY_KEY = 'liaison.console.replay';

const RESULT_WORDS = { pass: 'Passed', fail: 'Failed', not_applicable: 'Not applicable' };

/** The explanation (policy.Explanation) in words. */
export function explanation(d) {
  const x = d.explanation;
  const parts = [];
  if (x?.summary) parts.push(h('p', { text: x.summary }));
  if (x?.request) parts.push(h('p.small', { text: x.request }));
  if (x?.facts?.length) parts.push(h('h3', { text: 'What the policy established' }), h('ul', null, x.facts.map((f) => h('li', { text: f }))));
  if (x?.checks?.length) {
    parts.push(h('h3', { text: 'Checks' }), h('ul.checks', null, x.checks.map((c) => h('li', { class: c.result === 'fail' ? 'fail' : c.result === 'pass' ? 'pass' : 'na' },
      h('span.mark', { text: RESULT_WORDS[c.result] || c.result }), ' ', h('strong', { text: c.title || c.id }),
      (c.details || []).length ? h('span.detail', { text: c.details.join(' ') }) : null,
      (c.codes || []).length ? h('span.code', { text: ` ${c.codes.join(', ')}` }) : null))));
  }
  if (x?.obligations?.length) parts.push(h('h3', { text: 'On disclosure the gateway must' }), h('ul', null, x.obligations.map((o) => h('li', { text: o }))));
  if (!x && d.reasons?.length) {
    parts.push(h('ul.reasons', null, d.reasons.map((r) => h('li', null, r.message || r.code, r.code ? h('span.code', { text: ` ${r.code}` }) : null))));
  }
  parts.push(h('p.small', null, 'Decision ', h('code', { text: d.id || '' }), ' by policy revision ', h('code', { text: d.revision || '' })));
  return parts;
}

export async function render(root, ctx) {
  let examples = [];
  try {
    examples = (await (await fetch(new URL('../examples.json', import.meta.url), { credentials: 'same-origin' })).json()).examples || [];
  } catch {
    examples = [];
  }
  if (!ctx.current()) return;
  const ex = select('example', [['', 'Choose an example…'], ...examples.map((e, i) => [String(i), e.name])], '');
  const input = h('textarea', { name: 'input', rows: 18, spellcheck: false, class: 'code-input' });
  const status = h('div.decision', { role: 'status', 'aria-label': 'Decision' });
  const form = h('form', { 'aria-label': 'Policy input' },
    field('Example', ex),
    field('Policy input (JSON)', input, 'The input the policy decides on: action, subject, request, record.'),
    h('div.actions', null, h('button', { type: 'submit', text: 'Decide' })));
  root.append(h('h1', { text: 'Decision explorer' }),
    h('p.lede', { text: 'See what the policy in force decides for an input, and why. Nothing is changed; the dry run is recorded in the audit log.' }),
    h('div.explorer', null, form, h('div.decision-pane', null, status)));
  ex.addEventListener('change', () => {
    const e = examples[Number(ex.value)];
    if (ex.value !== '' && e) input.value = JSON.stringify(e.input, null, 2);
  });
  const digest = ctx.params.get('input');
  if (digest) {
    let saved = null;
    try {
      saved = JSON.parse(sessionStorage.getItem(REPLAY_KEY));
    } catch {
      saved = null;
    }
    if (saved && saved.digest === digest) {
      input.value = JSON.stringify(saved.input, null, 2);
      status.replaceChildren(h('p', { text: `Loaded the recorded input ${digest.replace(/^sha256:/, '').slice(0, 12)} from the shadow report. Choose Decide to replay it.` }));
    } else {
      status.replaceChildren(alertBox('That recorded input is no longer in this browser; open it again from the shadow report.'));
    }
  }
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    let parsed;
    try {
      parsed = JSON.parse(input.value);
    } catch (err) {
      status.replaceChildren(alertBox(`The policy input is not valid JSON: ${err.message}.`));
      return;
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
      status.replaceChildren(alertBox('The policy input must be a JSON object.'));
      return;
    }
    status.replaceChildren(h('p', { text: 'Deciding…' }));
    try {
      const res = await api('POST', '/v1/decisions', { body: { input: parsed } });
      if (res.evaluation_error) {
        status.replaceChildren(h('p.verdict.bad', { text: 'Denied: the policy could not be evaluated, so the gateway would refuse.' }), h('p.small', { text: res.evaluation_error }));
        return;
      }
      const d = res.decision;
      const outcome = d.explanation?.outcome;
      const word = d.allow ? 'Allowed' : outcome === 'deny_hidden' ? 'Denied (the caller would not be told the record exists)' : 'Denied';
      status.replaceChildren(h('p', { class: `verdict ${d.allow ? 'ok' : 'bad'}`, text: word }), ...explanation(d));
    } catch (err) {
      status.replaceChildren(problemBox(err));
    }
  });
}
