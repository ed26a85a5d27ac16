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

// contentHash is the first hashLength characters of HMAC-SHA256(key,
// canonical{type,data}) in kustomize's DNS-safe alphabet. It is keyed because
// version names are shown to people who may not read the Secret, and a plain
// hash of a short password could be brute-forced from its name.
func contentHash(key []byte, secretType corev1.SecretType, data map[string][]byte) string {
	// encoding/json sorts map keys, which makes this canonical.
	canonical, err := json.Marshal(struct {
		Type corev1.SecretType `json:"type"`
		Data map[string][]byte `json:"data"`
	}{secretType, data})
	if err != nil {
		panic(err) // a map of byte slices always marshals
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
