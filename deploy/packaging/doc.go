// Package packaging checks Liaison's deployment artefacts with the tools
// that consume them: the Helm chart (deploy/helm/liaison) with `helm lint`
// and `helm template`, every rendered manifest strictly decoded into the
// Kubernetes API types and its liaison.yaml loaded by the gateway's own
// config loader; the compose file (deploy/compose) with compose-go; the
// systemd unit (deploy/systemd) with `systemd-analyze verify`. (The image
// and its Dockerfile are checked beside their builder, in deploy/image.)
//
// It has no code of its own outside its tests: an artefact that only looks
// right is not checked, so each test runs the real tool or loader and fails
// (never skips) under `make test` when the tool is missing.
package packaging
