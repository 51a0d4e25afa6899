// Command vault builds the HashiCorp Vault server used by Liaison's dev stack
// and integration tests. It lives in its own module so that the product's
// go.mod depends only on github.com/hashicorp/vault/api.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
