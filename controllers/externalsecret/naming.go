package externalsecret

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// hashLength is how many characters of the keyed hash go into a version name.
const hashLength = 10

// maxBaseLength leaves room for "-" and the hash in a 253-character name.
const maxBaseLength = 253 - 1 - hashLength

// versionOwner is who a version belongs to. Version names are keyed by it,
// so that equal content in two places never has the same name.
type versionOwner struct {
	Namespace, ExternalSecret string
}

// contentHash is the first hashLength characters of HMAC-SHA256 over the
// canonical {externalSecret, type, data}, keyed by a key derived for the
// namespace from the operator's key, in kustomize's DNS-safe alphabet.
//
// It is keyed because version names are shown to people who may not read
// the Secret (pod specs, events, status), and a plain hash of a short
// password could be brute-forced from its name. It is bound to the namespace
// and the ExternalSecret because otherwise a tenant could sync guesses in
// its own namespace and compare names with another namespace's versions:
// with one operator-wide key, equal content meant an equal name.
func contentHash(key []byte, owner versionOwner, secretType corev1.SecretType, data map[string][]byte) string {
	return keyedHash(namespaceKey(key, owner.Namespace), struct {
		ExternalSecret string            `json:"externalSecret"`
		Type           corev1.SecretType `json:"type"`
		Data           map[string][]byte `json:"data"`
	}{owner.ExternalSecret, secretType, data})
}

// legacyContentHash is the hash of vaultferry 0.1, keyed by the operator key
// alone over {type, data}. It is used only to recognise a version written
// then, so that an upgrade keeps using it until its content changes.
func legacyContentHash(key []byte, secretType corev1.SecretType, data map[string][]byte) string {
	return keyedHash(key, struct {
		Type corev1.SecretType `json:"type"`
		Data map[string][]byte `json:"data"`
	}{secretType, data})
}

// namespaceKey derives the key of one namespace's version names.
func namespaceKey(key []byte, namespace string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("vaultferry.io/version-names/v2\x00" + namespace))
	return mac.Sum(nil)
}

func keyedHash(key []byte, content any) string {
	// encoding/json sorts map keys, which makes this canonical.
	canonical, err := json.Marshal(content)
	if err != nil {
		panic(err) // strings and maps of byte slices always marshal
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(canonical)
	return dnsSafe(hex.EncodeToString(mac.Sum(nil))[:hashLength])
}

// dnsSafe substitutes hex characters the way kustomize's secretGenerator and
// `kubectl create secret --append-hash` do, so a hash never looks like a
// number or spells a word with vowels.
func dnsSafe(hexDigits string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '0':
			return 'g'
		case '1':
			return 'h'
		case '3':
			return 'k'
		case 'a':
			return 'm'
		case 'e':
			return 't'
		}
		return r
	}, hexDigits)
}

// versionedName is the name of the version of base holding content with hash.
func versionedName(base, hash string) string {
	return shortenBase(base) + "-" + hash
}

// shortenBase cuts base to maxBaseLength, ending on an alphanumeric character.
// The schema already limits target.name; this guards ExternalSecret names.
func shortenBase(base string) string {
	if len(base) <= maxBaseLength {
		return base
	}
	return strings.TrimRight(base[:maxBaseLength], "-.")
}
