// Tests of the console's in-page proof verifier (assets/proof.js) against
// real inclusion proofs made and checked by gateway/audit (testdata/proofs.json,
// written by gen_fixture.go). Run: node --test gateway/console/jstest/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { verifyProof, entrySelfHash, CHECKS, b64urlDecode, b64urlEncode } from '../assets/proof.js';

const fixture = JSON.parse(readFileSync(new URL('./testdata/proofs.json', import.meta.url), 'utf8'));
const clone = (o) => JSON.parse(JSON.stringify(o));
const failed = (r) => r.checks.filter((c) => !c.ok).map((c) => c.id);

test('every proof made by Go verifies, with each check passed', async () => {
  assert.ok(fixture.proofs.length >= 4);
  for (const p of fixture.proofs) {
    const r = await verifyProof(p, { expect: { seq: p.seq, gateway: p.gateway }, pinned: fixture.thumbprint });
    assert.deepEqual(failed(r), [], `seq ${p.seq}: ${JSON.stringify(r.checks)}`);
    assert.equal(r.ok, true);
    assert.deepEqual(r.checks.map((c) => c.label), CHECKS.map(([, l]) => l));
    assert.equal(r.thumbprint, fixture.thumbprint, 'RFC 7638 thumbprint as Go computes it');
    assert.equal(r.entry.seq, p.seq);
    assert.equal(r.checkpoint.tree_size, p.tree_size);
  }
});

// Each alteration must fail, and must fail the named check.
const base = fixture.proofs[1]; // seq 7 of 13: a path with left and right siblings
const alterations = [
  ['edited entry', (p) => { p.leaf = p.leaf.replace('"status":200', '"status":403'); }, 'leaf'],
  ['edited non-ASCII byte of the justification', (p) => { p.leaf = p.leaf.replace('Opération', 'Operation'); }, 'leaf'],
  ['another entry\'s leaf', (p) => { p.leaf = fixture.proofs[2].leaf; }, 'entry'],
  ['wrong leaf index', (p) => { p.leaf_index += 1; }, 'entry'],
  ['altered path node', (p) => { p.audit_path[0] = p.audit_path[0].replace(/^./, (c) => (c === '0' ? '1' : '0')); }, 'root'],
  ['shortened path', (p) => { p.audit_path = p.audit_path.slice(1); }, 'path'],
  ['lengthened path', (p) => { p.audit_path = [...p.audit_path, p.audit_path[0]]; }, 'path'],
  ['other tree size', (p) => { p.tree_size = 12; }, 'size'],
  ['other gateway', (p) => { p.gateway = 'gw-other'; }, 'entry'],
  ['altered signature byte', (p) => {
    const [h, pl, s] = p.checkpoint.split('.');
    const sig = b64urlDecode(s);
    sig[10] ^= 1;
    p.checkpoint = [h, pl, b64urlEncode(sig)].join('.');
  }, 'signature'],
  ['altered checkpoint root', (p) => {
    const [h, pl, s] = p.checkpoint.split('.');
    const c = JSON.parse(new TextDecoder().decode(b64urlDecode(pl)));
    c.root_hash = c.root_hash.replace(/^./, (x) => (x === 'a' ? 'b' : 'a'));
    p.checkpoint = [h, b64urlEncode(new TextEncoder().encode(JSON.stringify(c))), s].join('.');
  }, 'signature'],
  ['alg none', (p) => {
    const [, pl] = p.checkpoint.split('.');
    p.checkpoint = [b64urlEncode(new TextEncoder().encode('{"alg":"none"}')), pl, ''].join('.');
  }, 'signature'],
  ['key swapped in the key set', (p) => {
    const k = p.jwks.keys[0];
    k.x = b64urlEncode(new Uint8Array(32).fill(7));
  }, 'signature'],
  ['key renamed', (p) => { p.jwks.keys[0].kid = 'other'; }, 'signature'],
  ['not an inclusion proof', (p) => { p.format = 'something-else'; }, 'entry'],
];
test('an edited entry with its own hash recomputed is still not in the signed tree', async () => {
  const p = clone(base);
  const edited = p.leaf.replace('"agency":"rocu-nw"', '"agency":"someone-else"');
  const cut = edited.lastIndexOf(',"hash":"') + ',"hash":"'.length;
  const self = await entrySelfHash(new TextEncoder().encode(edited.slice(0, cut) + 'sha256:' + '0'.repeat(64) + '"}'));
  p.leaf = edited.slice(0, cut) + self + '"}';
  const r = await verifyProof(p, { expect: { seq: base.seq, gateway: base.gateway } });
  assert.deepEqual(failed(r), ['root']);
});

for (const [name, alter, check] of alterations) {
  test(`tampered proof fails: ${name}`, async () => {
    const p = clone(base);
    alter(p);
    const r = await verifyProof(p, { expect: { seq: base.seq, gateway: base.gateway } });
    assert.equal(r.ok, false);
    assert.ok(failed(r).includes(check), `expected check ${check} to fail, failed: ${failed(r)}`);
  });
}

test('every single-byte change of the leaf fails', async () => {
  // Exhaustive over the bytes of one entry: no byte is outside the proof.
  const p = base;
  const bytes = new TextEncoder().encode(p.leaf);
  for (let i = 0; i < bytes.length; i += 1) {
    const b = bytes.slice();
    b[i] = b[i] === 0x41 ? 0x42 : 0x41;
    const leaf = new TextDecoder().decode(b);
    const r = await verifyProof({ ...p, leaf }, { expect: { seq: p.seq, gateway: p.gateway } });
    assert.equal(r.ok, false, `byte ${i} changed and the proof still verified`);
  }
});

test('a pinned thumbprint that differs fails the thumbprint check only', async () => {
  const r = await verifyProof(clone(base), { expect: { seq: base.seq, gateway: base.gateway }, pinned: 'AAAA' });
  assert.deepEqual(failed(r), ['thumbprint']);
});

test('asking about another entry fails the entry check', async () => {
  const r = await verifyProof(clone(base), { expect: { seq: base.seq + 1, gateway: base.gateway } });
  assert.deepEqual(failed(r), ['entry']);
});

test('garbage does not throw', async () => {
  for (const g of [null, {}, { checkpoint: 'a.b.c', audit_path: ['zz'] }, { ...clone(base), jwks: 'not json' }]) {
    const r = await verifyProof(g);
    assert.equal(r.ok, false);
  }
});
