// Package jose holds Liaison's JOSE objects, built on lestrrat-go/jwx:
// officer tokens (JWTs that an agency issues to its officers and that the
// gateway verifies against that agency's published key set, bound to the
// agency's client certificate), and the gateway's own Ed25519 JWS signatures
// over record metadata and, later, audit checkpoints.
//
// Only asymmetric algorithms are accepted, the token is parsed as strict
// compact serialisation, and errors name the failed rule without echoing
// the token or any claim value.
package jose
