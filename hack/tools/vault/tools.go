//go:build tools

// Package vault pins the HashiCorp Vault release the tests run as a real dev
// server: v1.14.2, of the last MPL-2.0 line. hack/build-vault.sh builds it.
package vault

import _ "github.com/hashicorp/vault"
