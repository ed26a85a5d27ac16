#!/usr/bin/env bash
# Builds the Vault dev server the tests run (bin/vault) from the Go module proxy.
#
# Vault v1.14.2 is built from hack/tools/vault. Its own go.mod replaces vault/sdk
# with the sdk directory of its tree, which a dependency cannot use, and the
# published sdk nearest that tree (v0.9.2) carries one newer sanity check: it
# panics at the first request when a path defines CreateOperation without an
# ExistenceCheck, which the 1.14.2 sys backend's managed-keys paths do. The
# build therefore uses a copy of sdk v0.9.2 in bin/vault-sdk without that check
# (nothing else changed), wired in by the replace directive in go.mod.
set -euo pipefail
bin=$(cd "${1:?usage: build-vault.sh BIN_DIR}" && pwd)
sdk_version=v0.9.2
root=$(cd "$(dirname "$0")/.." && pwd)

src=$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod go mod download -json "github.com/hashicorp/vault/sdk@${sdk_version}" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
rm -rf "$bin/vault-sdk"
cp -r "$src" "$bin/vault-sdk"
chmod -R u+w "$bin/vault-sdk"
sed -i '/Detect the coding error of attempting to define a CreateOperation without defining an ExistenceCheck/,+9d' "$bin/vault-sdk/framework/backend.go"
if grep -q "defines a CreateOperation but no ExistenceCheck" "$bin/vault-sdk/framework/backend.go"; then
	echo "build-vault.sh: the sdk patch no longer applies" >&2
	exit 1
fi
cd "$root/hack/tools/vault"
GOFLAGS=-mod=mod go build -o "$bin/vault" github.com/hashicorp/vault
