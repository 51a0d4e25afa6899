// Package policies is Liaison's bundled policy library — Rego rules, their
// Rego tests, data, schemas and samples, embedded in the binary — not code
// that runs them: package policy is the engine that loads, tests, signs,
// evaluates and explains this library (or a copy of it). This package holds:
// the authorization entrypoint (liaison/authz.rego), one package per marking
// scheme (liaison/schemes: GSCP, TLP 2.0, 3x5x2, Europol, legacy 5x5x5,
// police vetting, SELEC, DSAs), their unit tests, the demo federation's
// agencies and DSAs, scheme tables, the legacy cross-walk, explanation texts
// and settings (data/), the JSON Schemas agencies and DSAs must match
// (schemas/), and the sample decisions every policy must reproduce before it
// is loaded (samples.json).
//
// It is embedded so that a gateway always has a tested policy, even with no
// policy directory on disk; security officers work on a copy of this
// directory and point the gateway at it (see README.md).
package policies

import (
	"embed"
	"io/fs"
)

// library is the policy tree. Test modules are embedded too so that the
// bundled policy can be tested from the binary (`liaison policy test`).
//
//go:embed liaison data schemas samples.json
var library embed.FS

// FS returns the embedded policy library, rooted at this directory:
// liaison/… (*.rego, *_test.rego), data/*.json, schemas/*.json and
// samples.json. Package policy loads it when no policy directory or
// bundle is configured.
func FS() fs.FS { return library }
