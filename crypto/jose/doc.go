// Package jose holds Liaison's JOSE objects, built on lestrrat-go/jwx:
//
//   - officer tokens (officer.go): JWTs that an agency issues to its
//     officers and that the gateway verifies against that agency's published
//     key set (keyset.go: one <agency-id>.json per agency, reloaded when it
//     changes), bound to the agency's client certificate (RFC 8705
//     cnf.x5t#S256);
//   - Ed25519 compact JWS made by a Signer (signer.go): the gateway key
//     signs record metadata, idempotency answers and share receipts, and
//     derives keys for other purposes (the MAC key of listing cursors); the
//     audit key, a Signer of its own, signs audit checkpoints, and
//     `liaison audit export` can sign an evidence pack with a Signer;
//   - documents signed by people (detached.go): security officers sign
//     policy bundles with personal keys, and gateways accept only
//     signatures by a trusted key set.
//
// Only asymmetric algorithms are accepted, tokens and signatures are parsed
// as strict compact serialisation (compact.go, strict.go: no duplicate
// member names, no string dates, low-S ECDSA), and errors name the failed
// rule without echoing the token or any claim value. Agency ids follow the
// one rule in crypto/identity.
package jose
