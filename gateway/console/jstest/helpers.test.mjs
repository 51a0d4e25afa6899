// Tests of the console's DOM-free helpers: the evidence-pack check made
// before download, day bounds of the filters, chart scales, problem text.
// Run: node --test gateway/console/jstest/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { checkPack } from '../assets/views/disclosures.js';
import { dayBound, decisionOf } from '../assets/views/audit.js';
import { daysBetween } from '../assets/views/charts.js';
import { niceMax } from '../assets/charts.js';
import { problemText, problemDetail, headerSafe } from '../assets/api.js';
import { digestPrefix } from '../assets/views/shadow.js';
import { PURPOSES, DEFAULT_PURPOSE } from '../assets/purposes.js';

const pack = JSON.parse(readFileSync(new URL('./testdata/pack.json', import.meta.url), 'utf8'));

test('a signed pack made by gateway/audit checks entry by entry', async () => {
  assert.ok(pack.entries.length > 3);
  const [ok, failed] = await checkPack(pack);
  assert.equal(ok, pack.entries.length);
  assert.deepEqual(failed, []);
});

test('a pack with one entry changed names that entry', async () => {
  const p = structuredClone(pack);
  const e = p.entries[2];
  e.leaf = e.leaf.replace('"officer":"dc-77"', '"officer":"dc-78"');
  const [ok, failed] = await checkPack(p);
  assert.equal(ok, pack.entries.length - 1);
  assert.equal(failed.length, 1);
  assert.match(failed[0], new RegExp(`entry ${e.seq} of gw-fixture: leaf hash`));
});

test('a pack whose checkpoint was re-signed by another key fails every entry', async () => {
  const p = structuredClone(pack);
  p.gateways[0].jwks.keys[0].x = 'A'.repeat(43);
  const [ok, failed] = await checkPack(p);
  assert.equal(ok, 0);
  assert.ok(failed.every((f) => /checkpoint signature/.test(f)));
});

test('day bounds: from is the day\'s start, to the next day\'s start (UTC)', () => {
  assert.equal(dayBound('2026-12-01', false), '2026-12-01T00:00:00Z');
  assert.equal(dayBound('2026-12-31', true), '2027-01-01T00:00:00Z');
  assert.equal(dayBound('', false), '');
  assert.equal(dayBound('01/12/2026', false), '');
  assert.equal(dayBound('2026-13-45', false), '');
});

test('decisions in words', () => {
  assert.equal(decisionOf({ decision: { allow: true } })[0], 'Allowed');
  assert.equal(decisionOf({ decision: { allow: false, reasons: [{ code: 'x' }] } })[0], 'Denied');
  const [w, why] = decisionOf({ operation: 'denial', status: 404, decision: { allow: true }, error: 'https://liaison.dev/problems/no-route: no such endpoint' });
  assert.equal(w, 'Denied by the gateway (404)', 'refused after the policy allowed: still a denial, not "Allowed"');
  assert.deepEqual(why, [{ message: 'no such endpoint' }]);
  assert.equal(decisionOf({ operation: 'consultation', status: 503 })[0], 'Failed (503)');
  assert.equal(decisionOf({ operation: 'consultation', status: 200, decision: { allow: true } })[0], 'Allowed');
});

test('chart days fill the period', () => {
  const d = daysBetween('2026-11-29T00:00:00Z', '2026-12-02T00:00:00Z');
  assert.deepEqual(d, ['2026-11-29', '2026-11-30', '2026-12-01']);
  assert.equal(daysBetween('2026-01-01T00:00:00Z', '2030-01-01T00:00:00Z').length, 400, 'bounded');
  assert.deepEqual(daysBetween('nonsense', '2026-12-02T00:00:00Z'), []);
});

test('axis maxima are round and cover the data', () => {
  for (const v of [0, 1, 3, 5, 6, 9, 11, 99, 101, 2500]) {
    const [max, step] = niceMax(v);
    assert.ok(max >= v, `${v} → ${max}`);
    assert.ok(Number.isInteger(max / step), `${v}: ${max}/${step}`);
  }
  assert.deepEqual(niceMax(3), [3, 1]);
});

test('problems in plain words, reasons after the detail', () => {
  const p = { title: 'Forbidden', status: 403, detail: 'the policy denied this request', reasons: [{ code: 'audit_role_required', message: 'the audit log is for officers with an auditor role' }] };
  assert.equal(problemText(403, p), 'The policy denied this request. The audit log is for officers with an auditor role.');
  assert.equal(problemDetail(403, p), 'The policy denied this request.');
  assert.equal(problemText(502, null), 'The gateway answered 502 without saying why.');
  assert.match(problemText(400, { title: 'Bad request', errors: [{ pointer: '/dsa', detail: 'unknown' }] }), /Bad request\. \/dsa unknown\./);
});

test('header-safe justification', () => {
  assert.ok(headerSafe('OP-NIGHTJAR tasking 42'));
  assert.ok(!headerSafe('Opération'));
  assert.ok(!headerSafe('two\nlines'));
});

test('replay names use 12 hex characters of the digest', () => {
  assert.equal(digestPrefix('sha256:0123456789abcdef0123'), '0123456789ab');
});

test('the default purpose is one the policy knows', () => {
  const schemes = JSON.parse(readFileSync(new URL('../../../policies/data/schemes.json', import.meta.url), 'utf8')).schemes;
  assert.deepEqual(PURPOSES.map(([v]) => v), schemes.purposes, 'purposes.js is the policy\'s list');
  assert.equal(DEFAULT_PURPOSE, schemes.purposes.includes('audit') ? 'audit' : schemes.purposes[0]);
});

test('hash routes', async () => {
  const { parseHash } = await import('../assets/route.js');
  assert.deepEqual({ ...parseHash('#/audit'), params: undefined }, { name: 'audit', arg: '', params: undefined });
  const r = parseHash('#/audit/42?record=rec_1&after=10');
  assert.equal(r.name, 'audit');
  assert.equal(r.arg, '42');
  assert.equal(r.params.get('record'), 'rec_1');
  assert.equal(r.params.get('after'), '10');
  assert.equal(parseHash('#/explorer?input=sha256%3Aab').params.get('input'), 'sha256:ab');
  assert.equal(parseHash('#main'), null, 'an in-page anchor is no route');
  assert.equal(parseHash(''), null);
  assert.equal(parseHash('#/audit/%E0%A4%A'), null, 'a malformed escape is no route');
});
