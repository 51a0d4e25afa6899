// Command liaison is Liaison's single binary: the gateway (`dev`, `serve`)
// and the clients and tools around it — `records` (put, get, list, recall, review,
// decide, share), `consents` (list, approve, refuse), `requests` (file,
// list, show, answer, detail, withdraw), `dev token`, `keys`
// (info, rotate, rewrap, shred, destroy), `policy` (test, check, eval,
// crosswalk, replay, sign, verify, keygen), `audit` (verify, query,
// prove, check-proof, export, hmac, recover), `peers` (add, list, show,
// remove, manifest), `agency` (add, list, show, suspend, activate,
// remove), `dsa` (list, show, activate, suspend, terminate, renew),
// `enum` (list, add), `backup` (create, verify, restore), `version` and
// `health` (a container healthcheck).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/liaison-project/liaison/gateway/buildinfo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot()
	if err := root.ExecuteContext(ctx); err != nil {
		var ex exitError
		if errors.As(err, &ex) {
			os.Exit(ex.code)
		}
		fmt.Fprintln(os.Stderr, "liaison:", err)
		os.Exit(1)
	}
}

// exitError ends the process with a code after the message was already printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "liaison",
		Short: "Liaison: a secure federated data-sharing gateway for law-enforcement intelligence",
		Long: `Liaison sits between agencies that exchange intelligence. Every connection is
mutual TLS, every request is decided by Rego policy against the record's
handling codes and the data-sharing agreement in force, content is
envelope-encrypted before it is stored, and every request is audited.

Start a complete gateway on embedded defaults:   liaison dev
Run a configured gateway:                        liaison serve --config liaison.yaml`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionLine(buildinfo.Get()),
	}
	root.SetVersionTemplate("{{.Version}}\n") // the same line as `liaison version`
	root.AddCommand(newDevCmd(), newServeCmd(), newRecordsCmd(), newKeysCmd(), newAuditCmd(), newConsentsCmd(), newRequestsCmd(), newPolicyCmd(), newPeersCmd(), newSearchCmd(), newIndexCmd(), newBackupCmd())
	root.AddCommand(newAgencyCmd(), newDSACmd(), newEnumCmd())
	root.AddCommand(newVersionCmd(), newHealthCmd())
	return root
}
