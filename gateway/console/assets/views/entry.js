// One audit entry in words, and its inclusion proof verified in the page
// (../proof.js): the auditor sees each check pass or fail, and the audit
// key's thumbprint to compare with the one the gateway's operator gave them.

import { api } from '../api.js';
import { h, field, when, problemBox, alertBox, loading, operationWords } from '../dom.js';
import { decisionOf, reasonNodes } from './audit.js';
import { verifyProof } from '../proof.js';

export const PIN = 'liaison.console.pinned-thumbprint';

function dl(pairs) {
  const d = h('dl.entry');
  for (const [k, v] of pairs) {
    if (v === undefined || v === null || v === '' || (Array.isArray(v) && !v.length)) continue;
    d.append(h('dt', { text: k }), h('dd', null, v));
  }
  return d;
}

export function describe(ev) {
  const [word, reasons] = decisionOf(ev);
  return dl([
    ['Time', when(ev.time)],
    ['What happened', [operationWords(ev.operation), ev.action ? h('span.code', { text: ` ${ev.action}` }) : null]],
    ['Decision', [h('span', { class: word === 'Allowed' ? 'ok' : 'bad', text: word }), ev.decision?.id ? h('span.code', { text: ` ${ev.decision.id}` }) : null]],
    ['Reasons', reasons.length ? h('ul.reasons', null, reasons.map((r) => h('li', null, reasonNodes([r])))) : ''],
    ['Agency', ev.agency],
    ['Officer', ev.officer],
    ['Records', (ev.record_ids || []).join(', ')],
    ['Originator', ev.originator],
    ['Recipients', (ev.recipient_ids || []).join(', ')],
    ['Agreements (DSA)', (ev.dsa_ids || []).join(', ')],
    ['Purpose', ev.purpose],
    ['Justification', ev.justification],
    ['Case', ev.case],
    ['Request for information', ev.info_request_id],
    ['Request', [ev.method, ' ', ev.route, ev.status ? ` → ${ev.status}` : ''].join('')],
    ['Problem', ev.error],
    ['Corrects entry', ev.corrects ? h('a', { href: `#/audit/${ev.corrects}`, text: `Entry ${ev.corrects}` }) : ''],
    ['Gateway', ev.gateway],
    ['Request id', ev.request_id],
    ['Entry hash', h('code.hash', { text: ev.hash })],
    ['Previous entry hash', h('code.hash', { text: ev.prev })],
  ]);
}

/**
 * Shows proof.js's result in a status region: "Verified: <what>." or
 * "Failed: <the failed checks>.", each check passed or failed with what it
 * found, and the signing key's thumbprint and the signed checkpoint.
 */
export function showVerdict(status, checks, details, r, what) {
  const bad = r.checks.filter((c) => !c.ok);
  checks.replaceChildren(...r.checks.map((c) => h('li', { class: c.ok ? 'pass' : 'fail' },
    h('span.mark', { text: c.ok ? 'Passed' : 'Failed' }), ' ', h('strong', { text: c.label }), h('span.detail', { text: c.detail }))));
  status.replaceChildren(h('p', { class: r.ok ? 'verdict ok' : 'verdict bad', text: r.ok
    ? `Verified: ${what}.`
    : `Failed: ${bad.map((c) => c.label.toLowerCase()).join(', ')}.` }), checks);
  if (r.thumbprint) {
    details.append(dl([
      ['Audit key thumbprint (RFC 7638)', h('code.hash', { text: r.thumbprint })],
      ['Signed tree size', r.checkpoint ? String(r.checkpoint.tree_size) : ''],
      ['Signed root', r.checkpoint ? h('code.hash', { text: r.checkpoint.root_hash }) : ''],
      ['Signed at', r.checkpoint ? when(r.checkpoint.time) : ''],
    ]));
  }
}

async function loadEntry(seq) {
  // GET /v1/audit has no seq parameter: the first entry after seq-1 in the
  // caller's scope is this one if it is in scope at all.
  const page = await api('GET', '/v1/audit', { query: { after: String(BigInt(seq) - 1n), limit: '1' } });
  const ev = page.items[0];
  return ev && String(ev.seq) === String(seq) ? ev : null;
}

export async function render(root, ctx) {
  const seq = ctx.arg;
  if (!/^[1-9][0-9]{0,19}$/.test(seq)) {
    root.append(h('h1', { text: 'Entry' }), alertBox('An entry is named by its sequence number, a whole number from 1.'));
    return;
  }
  const body = h('div', null, loading());
  root.append(h('p.crumb', null, h('a', { href: '#/audit', text: 'Audit log' })), h('h1', { text: `Entry ${seq}` }), body);
  let ev;
  try {
    ev = await loadEntry(seq);
  } catch (e) {
    if (ctx.current()) body.replaceChildren(problemBox(e));
    return;
  }
  if (!ctx.current()) return;
  if (!ev) {
    body.replaceChildren(alertBox(`There is no entry ${seq} in the part of the audit log you may see.`));
    return;
  }

  const pinned = h('input', { type: 'text', name: 'pinned', value: localStorage.getItem(PIN) || '', autocomplete: 'off', spellcheck: false });
  const verify = h('button', { type: 'button', text: 'Verify proof' });
  const status = h('div.proof-status', { role: 'status', 'aria-label': 'Proof verification' }, h('p', { text: 'No proof checked yet.' }));
  const checks = h('ul.checks', { 'aria-label': 'Checks' });
  status.append(checks);
  const details = h('div.proof-details');
  verify.addEventListener('click', async () => {
    verify.disabled = true;
    checks.replaceChildren();
    status.replaceChildren(h('p', { text: 'Checking the proof…' }), checks);
    details.replaceChildren();
    const pin = pinned.value.trim();
    if (pin) localStorage.setItem(PIN, pin);
    else localStorage.removeItem(PIN);
    try {
      let proof;
      try {
        proof = await api('GET', '/v1/audit/proof', { query: { seq } });
      } catch (e) {
        if (e.slug === 'not-yet-signed' || e.status === 409) {
          status.replaceChildren(h('p', { text: `Not yet verifiable: no signed checkpoint covers entry ${seq} yet.${e.retryAfter ? ` Try again in ${e.retryAfter} seconds.` : ' Try again shortly.'}` }));
        } else {
          status.replaceChildren(h('p', { text: `Failed: the proof could not be fetched. ${e.message}` }));
        }
        return;
      }
      const r = await verifyProof(proof, { expect: { seq: Number(seq), gateway: ev.gateway }, pinned: pin });
      showVerdict(status, checks, details, r, `entry ${seq} is in the log of ${proof.gateway} as signed at tree size ${proof.tree_size}`);
      const blob = new Blob([JSON.stringify(proof, null, 2) + '\n'], { type: 'application/json' });
      const a = h('a', { href: URL.createObjectURL(blob), download: `proof-${proof.gateway}-${seq}.json`, text: 'Save this proof' });
      details.append(h('p', null, a, h('span.small', { text: ' — check it again offline with liaison audit check-proof.' })));
    } finally {
      verify.disabled = false;
    }
  });
  body.replaceChildren(h('div.entry-layout', null,
    describe(ev),
    h('section.proof', { 'aria-labelledby': 'proof-h' },
      h('h2', { id: 'proof-h', text: 'Proof that this entry is in the signed log' }),
      h('p', { text: 'The page checks the proof itself: the entry\'s hash, the path to the signed root, the checkpoint\'s signature and the signing key.' }),
      field('Pinned key thumbprint (optional)', pinned, 'The audit key thumbprint your gateway operator gave you; kept in this browser.'),
      h('div.actions', null, verify),
      status, details)));
}
