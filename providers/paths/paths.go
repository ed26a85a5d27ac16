// Package paths is what a clean remote key and a canonical remote path are,
// and how allowedKeys and grant patterns match them. The controllers' tenancy
// checks and the providers' last checks before a request leaves (Vault's
// request guard) use the same rules, so that what is checked is what is sent.
// No I/O.
package paths

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
)

// systemSegments are Vault's own backends. No dynamic path may pass through
// one at any depth: Vault Enterprise serves a namespace's sys/ at
// <namespace>/sys/, so a check on the first segment alone is not enough.
var systemSegments = []string{"sys", "auth", "identity", "cubbyhole"}

// ErrNotCanonical is a dynamic path or lease id that is not already in the
// one form the backend reads it in.
var ErrNotCanonical = errors.New("not a canonical path")

// CheckDynamic accepts a path to issue credentials from only in its
// canonical form, the exact bytes sent: ASCII letters, digits and _.@=+:~-
// in segments joined by single slashes, none "." or "..", no leading or
// trailing slash, and no system backend on the way. Nothing is cleaned:
// cleaning "secret/../sys/policy/x" would change what it names.
func CheckDynamic(path string) error {
	if path == "" || len(path) > 512 {
		return fmt.Errorf("%w: empty or longer than 512 characters", ErrNotCanonical)
	}
	segments := strings.Split(path, "/")
	for i, seg := range segments {
		switch {
		case seg == "":
			return fmt.Errorf("%w: empty segment (a leading, trailing or double slash)", ErrNotCanonical)
		case seg == "." || seg == "..":
			return fmt.Errorf("%w: %q segment", ErrNotCanonical, seg)
		case !pathSegment(seg):
			return fmt.Errorf("%w: only ASCII letters, digits and _.@=+:~- may stand in a segment", ErrNotCanonical)
		case slices.Contains(systemSegments, seg) && (i == 0 || i < len(segments)-1):
			return fmt.Errorf("%w: %s/ is a Vault system backend", ErrNotCanonical, seg)
		}
	}
	return nil
}

func pathSegment(seg string) bool {
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("_.@=+:~-", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// LeasePath is the path a Vault lease id was issued from: lease ids are
// "<path>/<id>". ok is false for a lease id that is not canonical.
func LeasePath(leaseID string) (path string, ok bool) {
	i := strings.LastIndexByte(leaseID, '/')
	if i <= 0 || i == len(leaseID)-1 || CheckDynamic(leaseID) != nil {
		return "", false
	}
	return leaseID[:i], true
}

// GrantedAnyMethod reports whether one of grants covers path for any
// method: enough to renew or revoke a lease issued from it.
func GrantedAnyMethod(grants []vfv1alpha1.DynamicGrant, path string) bool {
	return Granted(grants, path, vfv1alpha1.DynamicRead) || Granted(grants, path, vfv1alpha1.DynamicWrite)
}

// Granted reports whether one of grants covers path for method.
func Granted(grants []vfv1alpha1.DynamicGrant, path string, method vfv1alpha1.DynamicMethod) bool {
	for _, g := range grants {
		if slices.Contains(g.Methods, method) && GrantMatches(g.Path, path) {
			return true
		}
	}
	return false
}

// GrantMatches reports whether a grant's path pattern covers path: the
// pattern's first segment (the mount) is literal, then * matches within a
// segment and ** across segments. A pattern that is not canonical itself
// (CRD validation refuses those) matches nothing.
func GrantMatches(pattern, path string) bool {
	mount, _, _ := strings.Cut(pattern, "/")
	if strings.ContainsAny(mount, "*?") || CheckDynamic(strings.NewReplacer("*", "x", "?", "x").Replace(pattern)) != nil {
		return false
	}
	return Glob(pattern, false).MatchString(path)
}

// Glob compiles an allowedKeys or grant pattern: ** matches across path segments,
// * within one, ? one character of one; everything else is literal, and
// compared without regard to case only when foldCase.
func Glob(pattern string, foldCase bool) *regexp.Regexp {
	var b strings.Builder
	if foldCase {
		b.WriteString("(?i)")
	}
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch {
		case strings.HasPrefix(pattern[i:], "**"):
			b.WriteString("(?s:.*)")
			i++
		case pattern[i] == '*':
			b.WriteString("[^/]*")
		case pattern[i] == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(pattern[i : i+1]))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// CleanKey accepts only keys that every backend reads as written: valid
// UTF-8 in Unicode's normal form NFKC (no full-width or compatibility
// look-alikes of '/' and '.'), no percent-escapes, backslashes, control or
// invisible format characters, empty, "." or ".." segments. Anything else
// could name a different secret than the one a check saw (Vault's client
// cleans "a/../b" to "b"), or look like another key in a log.
func CleanKey(key string) bool {
	if key == "" || strings.ContainsAny(key, "%\\") || !utf8.ValidString(key) || !norm.NFKC.IsNormalString(key) {
		return false
	}
	for _, r := range key {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return false
		}
	}
	for _, seg := range strings.Split(strings.TrimPrefix(key, "/"), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}
