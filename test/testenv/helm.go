package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Helm runs the pinned helm binary (bin/helm) with its cache, config and
// data in the test's temporary directories, and fails the test on error.
func Helm(t testing.TB, args ...string) string {
	t.Helper()
	out, err := TryHelm(t, args...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TryHelm is Helm returning the error instead of failing.
func TryHelm(t testing.TB, args ...string) (string, error) {
	t.Helper()
	bin := filepath.Join(RepoRoot(), "bin", "helm")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("helm missing at %s: run 'make test-peers'", bin)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	return string(out), err
}
