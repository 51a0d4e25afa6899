// Package fedproc holds the end-to-end and fault tests of federation with
// every gateway a separate `liaison serve` process (gateway/devnet/devnettest):
// sharing, refusal, onward consent and recall two hops away, driven through
// the CLI and the agency API; the federation API at the protocol level with
// a gateway's real signing key (duplicates, id reuse, reordering, forgery,
// a peer speaking for an agency it does not host); and faults: a peer down,
// kill -9 of sender and receiver under load, and a network partition made
// with a TCP fault proxy. The package has no code of its own: only tests.
package fedproc
