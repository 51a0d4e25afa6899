// Inclusion-proof verification in the page, with Web Crypto only.
//
// An audit.InclusionProof (gateway/audit/proof.go) carries the entry's exact
// bytes, the RFC 6962 audit path, the checkpoint as a compact JWS signed by
// the gateway's audit key (Ed25519) and the public key set. Everything is
// checked here, in the auditor's browser, so that the console does not ask
// the auditor to trust the gateway that serves it: the gateway could show
// any page, but it cannot make a forged proof verify against a key
// thumbprint the auditor pinned from the operator.
//
// The module has no DOM code, so node:test runs it as the page does
// (gateway/console/jstest/proof.test.mjs, against proofs made by Go).

const enc = new TextEncoder();

/** Check ids, in the order they are shown. The labels are the contract. */
export const CHECKS = [
  ['entry', 'Entry identity'],
  ['leaf', 'Leaf hash'],
  ['path', 'Path to root'],
  ['root', 'Root matches checkpoint'],
  ['size', 'Tree size'],
  ['signature', 'Checkpoint signature'],
  ['thumbprint', 'Key thumbprint'],
];

export function hex(bytes) {
  let s = '';
  for (const b of new Uint8Array(bytes)) s += b.toString(16).padStart(2, '0');
  return s;
}

/** Lowercase hex of exactly 32 bytes, or null. */
export function unhex32(s) {
  if (typeof s !== 'string' || !/^[0-9a-f]{64}$/.test(s)) return null;
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Strict unpadded base64url (RFC 7515 §2), or null. */
export function b64urlDecode(s) {
  if (typeof s !== 'string' || !/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) return null;
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/');
  let bin;
  try {
    bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  } catch {
    return null;
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function b64urlEncode(bytes) {
  let bin = '';
  for (const b of new Uint8Array(bytes)) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

async function sha256(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const buf = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    buf.set(p, off);
    off += p.length;
  }
  return new Uint8Array(await crypto.subtle.digest('SHA-256', buf));
}

const LEAF = Uint8Array.of(0);
const NODE = Uint8Array.of(1);

/** RFC 6962 leaf hash: SHA-256(0x00 || leaf). */
export function leafHash(leaf) {
  return sha256(LEAF, leaf);
}

function equalBytes(a, b) {
  if (!a || !b || a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

/**
 * The root that an inclusion path leads to (RFC 9162 §2.1.3.2), or throws
 * saying why the path cannot be a path of that leaf in that tree. Indexes
 * are BigInt so that sizes past 2^32 work with bit operations.
 */
export async function rootFromPath(index, size, leafH, path) {
  let fn = BigInt(index);
  let sn = BigInt(size) - 1n;
  if (fn > sn) throw new Error(`leaf index ${index} is outside a tree of ${size}`);
  let r = leafH;
  for (const p of path) {
    if (sn === 0n) throw new Error('the path is longer than the tree is deep');
    if ((fn & 1n) === 1n || fn === sn) {
      r = await sha256(NODE, p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = await sha256(NODE, r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new Error('the path is shorter than the tree is deep');
  return r;
}

/**
 * The entry's own hash (gateway/audit/verify.go entrySelfHash): SHA-256 of
 * its bytes with the hash value emptied. The bytes, not a re-encoding, so
 * that a change anywhere in the line shows. Null if the line does not end
 * as an entry does.
 */
export async function entrySelfHash(line) {
  const key = enc.encode(',"hash":"');
  const tail = key.length + 'sha256:'.length + 64 + 2;
  const n = line.length;
  if (n < tail + 2 || line[n - 2] !== 0x22 || line[n - 1] !== 0x7d) return null;
  const start = n - tail;
  for (let i = 0; i < key.length; i++) if (line[start + i] !== key[i]) return null;
  return 'sha256:' + hex(await sha256(line.subarray(0, start + key.length), enc.encode('"}')));
}

/** RFC 7638 thumbprint of an Ed25519 public JWK (base64url SHA-256). */
export async function jwkThumbprint(jwk) {
  // Required members only, in lexicographic order, no whitespace.
  const canon = `{"crv":${JSON.stringify(jwk.crv)},"kty":${JSON.stringify(jwk.kty)},"x":${JSON.stringify(jwk.x)}}`;
  return b64urlEncode(await sha256(enc.encode(canon)));
}

/** Splits a compact JWS; throws in words on a malformed one. */
export function parseJWS(jws) {
  if (typeof jws !== 'string') throw new Error('the checkpoint is not a compact JWS');
  const parts = jws.trim().split('.');
  if (parts.length !== 3) throw new Error('the checkpoint is not a compact JWS (three parts)');
  const hb = b64urlDecode(parts[0]);
  const pb = b64urlDecode(parts[1]);
  const sig = b64urlDecode(parts[2]);
  if (!hb || !pb || !sig) throw new Error('the checkpoint is not valid base64url');
  let header, payload;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(hb));
    payload = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(pb));
  } catch {
    throw new Error('the checkpoint header or payload is not JSON');
  }
  return { header, payload, signingInput: enc.encode(parts[0] + '.' + parts[1]), sig };
}

const CHECKPOINT_FIELDS = ['gateway', 'tree_size', 'root_hash', 'time'];

/**
 * Verifies an inclusion proof. opts.expect {seq, gateway} is the entry the
 * auditor asked about; opts.pinned is a key thumbprint obtained from the
 * gateway's operator (optional). Every check runs, whatever failed before,
 * so that the auditor sees everything that is wrong.
 *
 * Returns {ok, checks: [{id, label, ok, detail}], entry, checkpoint, thumbprint, kid}.
 */
export async function verifyProof(proof, opts = {}) {
  const res = {};
  const set = (id, ok, detail) => (res[id] = { ok, detail });
  const p = proof && typeof proof === 'object' ? proof : {};
  const out = { entry: null, checkpoint: null, thumbprint: null, kid: null };

  // The checkpoint: its signature first, since its payload is only the
  // gateway's statement if the signature holds.
  let jws = null;
  try {
    jws = parseJWS(p.checkpoint);
  } catch (e) {
    set('signature', false, e.message);
  }
  let key = null;
  if (jws) {
    const { header } = jws;
    let keys = [];
    try {
      const ks = typeof p.jwks === 'string' ? JSON.parse(p.jwks) : p.jwks;
      keys = Array.isArray(ks?.keys) ? ks.keys : [];
    } catch {
      keys = [];
    }
    out.kid = typeof header.kid === 'string' ? header.kid : null;
    const matching = keys.filter((k) => k && k.kid === header.kid);
    if (header.alg !== 'EdDSA' && header.alg !== 'Ed25519') {
      set('signature', false, `the checkpoint is signed with ${JSON.stringify(header.alg)}, not EdDSA (Ed25519)`);
    } else if (matching.length !== 1) {
      set('signature', false, matching.length ? 'the key set names that key twice' : 'no key in the key set has the checkpoint\'s key id');
    } else {
      key = matching[0];
      const x = key.kty === 'OKP' && key.crv === 'Ed25519' ? b64urlDecode(key.x) : null;
      if (!x || x.length !== 32) {
        set('signature', false, 'the signing key is not an Ed25519 public key');
        key = null;
      } else {
        try {
          const k = await crypto.subtle.importKey('raw', x, { name: 'Ed25519' }, false, ['verify']);
          const good = jws.sig.length === 64 && (await crypto.subtle.verify({ name: 'Ed25519' }, k, jws.sig, jws.signingInput));
          set('signature', good, good ? `Ed25519 signature by key ${header.kid} verifies` : 'the signature does not match the checkpoint');
        } catch (e) {
          set('signature', false, `this browser could not check an Ed25519 signature (${e.message})`);
        }
      }
    }
  }
  if (key) {
    out.thumbprint = await jwkThumbprint(key);
    const pinned = typeof opts.pinned === 'string' ? opts.pinned.trim() : '';
    if (pinned && pinned !== out.thumbprint) {
      set('thumbprint', false, `the key's thumbprint ${out.thumbprint} is not the pinned ${pinned}`);
    } else if (out.thumbprint !== key.kid) {
      // The gateway names each audit key by its thumbprint (crypto/jose).
      set('thumbprint', false, `the key's thumbprint ${out.thumbprint} is not its key id ${key.kid}`);
    } else {
      set('thumbprint', true, pinned ? `${out.thumbprint} (matches the pinned thumbprint)` : `${out.thumbprint} — compare it with the thumbprint the gateway's operator gave you`);
    }
  } else {
    set('thumbprint', false, 'no signing key to take the thumbprint of');
  }

  let cp = null;
  if (jws) {
    const pl = jws.payload;
    const keysOK = pl && typeof pl === 'object' && !Array.isArray(pl) && Object.keys(pl).every((k) => CHECKPOINT_FIELDS.includes(k));
    if (keysOK && typeof pl.gateway === 'string' && Number.isSafeInteger(pl.tree_size) && unhex32(pl.root_hash)) {
      cp = pl;
      out.checkpoint = pl;
    }
  }

  // The entry: the leaf's bytes are the entry exactly as logged.
  const leaf = typeof p.leaf === 'string' ? enc.encode(p.leaf) : null;
  let ev = null;
  try {
    ev = leaf ? JSON.parse(p.leaf) : null;
  } catch {
    ev = null;
  }
  if (ev && typeof ev === 'object') out.entry = ev;
  const want = opts.expect || {};
  {
    const problems = [];
    if (!ev || typeof ev !== 'object') problems.push('the leaf is not an audit entry');
    else {
      if (ev.seq !== p.seq) problems.push(`the leaf is entry ${ev.seq}, the proof says ${p.seq}`);
      if (ev.gateway !== p.gateway) problems.push(`the leaf is from gateway ${ev.gateway}, the proof says ${p.gateway}`);
      if (want.seq !== undefined && String(ev.seq) !== String(want.seq)) problems.push(`the leaf is entry ${ev.seq}, not the entry ${want.seq} asked for`);
      if (want.gateway !== undefined && ev.gateway !== want.gateway) problems.push(`the leaf is from gateway ${ev.gateway}, not ${want.gateway}`);
    }
    if (!Number.isSafeInteger(p.seq) || p.seq < 1 || p.leaf_index !== p.seq - 1) problems.push(`leaf index ${p.leaf_index} does not fit entry ${p.seq}`);
    if (p.format !== 'liaison-audit-inclusion-proof/v1') problems.push(`not an inclusion proof (format ${JSON.stringify(p.format)})`);
    set('entry', problems.length === 0, problems.length ? problems.join('; ') : `entry ${p.seq} of gateway ${p.gateway}, leaf ${p.leaf_index}`);
  }

  let lh = null;
  if (!leaf) set('leaf', false, 'the proof has no leaf');
  else {
    lh = await leafHash(leaf);
    const self = await entrySelfHash(leaf);
    if (!self) set('leaf', false, 'the leaf does not end as an audit entry does (its own hash last)');
    else if (!ev || self !== ev.hash) set('leaf', false, 'the entry\'s content does not match its own recorded hash: it was altered');
    else set('leaf', true, `leaf hash ${hex(lh)}; the entry's content matches its own hash`);
  }

  let root = null;
  const path = Array.isArray(p.audit_path) ? p.audit_path.map(unhex32) : null;
  if (!path) set('path', false, 'the proof has no audit path');
  else if (path.some((h) => !h)) set('path', false, `audit path node ${path.findIndex((h) => !h)} is not a 32-byte hex hash`);
  else if (!lh) set('path', false, 'no leaf hash to start from');
  else if (!Number.isSafeInteger(p.leaf_index) || !Number.isSafeInteger(p.tree_size) || p.leaf_index < 0 || p.tree_size < 1) set('path', false, 'leaf index or tree size is not a number');
  else {
    try {
      root = await rootFromPath(p.leaf_index, p.tree_size, lh, path);
      set('path', true, `${path.length} node${path.length === 1 ? '' : 's'} from leaf ${p.leaf_index} to root ${hex(root)} of a tree of ${p.tree_size}`);
    } catch (e) {
      set('path', false, e.message);
    }
  }

  if (!cp) set('root', false, 'the checkpoint does not state a root hash');
  else if (!root) set('root', false, 'no root was computed from the path');
  else if (!equalBytes(root, unhex32(cp.root_hash))) set('root', false, `the path leads to ${hex(root)}, the checkpoint signs ${cp.root_hash}`);
  else set('root', true, `the computed root is the signed root ${cp.root_hash}`);

  if (!cp) set('size', false, 'the checkpoint does not state a tree size');
  else if (cp.tree_size !== p.tree_size) set('size', false, `the checkpoint signs a tree of ${cp.tree_size}, the proof says ${p.tree_size}`);
  else if (cp.gateway !== p.gateway) set('size', false, `the checkpoint is for gateway ${cp.gateway}, the proof for ${p.gateway}`);
  else if (!(p.leaf_index < cp.tree_size)) set('size', false, `entry ${p.seq} is not within the signed tree of ${cp.tree_size}`);
  else set('size', true, `signed tree of ${cp.tree_size} entries of gateway ${cp.gateway} at ${cp.time}`);

  out.checks = CHECKS.map(([id, label]) => ({ id, label, ok: !!res[id]?.ok, detail: res[id]?.detail || '' }));
  out.ok = out.checks.every((c) => c.ok);
  return out;
}
