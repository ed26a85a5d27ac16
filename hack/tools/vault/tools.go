//go:build tools

// Package vault pins the HashiCorp Vault release the tests run as a real dev
// server. v1.14.x is the last MPL-2.0 line. Vault's own go.mod names api/sdk
// versions that do not match its tree, so go.mod requires both at the
// pseudo-version of the release tag's commit: all three come from one tree.
package vault

import _ "github.com/hashicorp/vault"
