// Package image tests the operator image that make image builds: the OCI
// archive's config and layers, and the binary inside it.
package image

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/vaultferry/vaultferry/test/operator"
	"github.com/vaultferry/vaultferry/test/testenv"
)

const testVersion = "v9.9.9-imagetest"

// buildBinary builds the static operator binary as make image does.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	binary, err := operator.BuildBinary(ctx, dir, "-X main.version="+testVersion, "-X main.commit=0123abcd", "-X main.date=2026-11-28T12:00:00Z")
	if err != nil {
		t.Fatal(err)
	}
	return binary
}

// buildArchive builds the image of binary as make image does, into archive.
func buildArchive(t *testing.T, binary, archive string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	img := exec.CommandContext(ctx, "go", "run", "./hack/image", "--binary", binary, "--version", testVersion, "--commit", "0123abcd",
		"--created", "2026-11-28T12:00:00Z", "--out", archive)
	img.Dir = testenv.RepoRoot()
	if out, err := img.CombinedOutput(); err != nil {
		t.Fatalf("hack/image: %v\n%s", err, out)
	}
}

func untar(t *testing.T, r io.Reader, dir string, keep func(name string) bool) map[string]*tar.Header {
	t.Helper()
	headers := map[string]*tar.Header{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return headers
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(h.Name, "/"), "/")
		headers[name] = h
		if h.Typeflag != tar.TypeReg || !keep(name) {
			continue
		}
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func TestImageArchive(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the image")
	}
	dir := t.TempDir()
	binary, archive := buildBinary(t, dir), filepath.Join(dir, "image.tar")
	buildArchive(t, binary, archive)
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ociDir := filepath.Join(dir, "oci")
	untar(t, f, ociDir, func(string) bool { return true })

	index, err := layout.ImageIndexFromPath(ociDir)
	if err != nil {
		t.Fatalf("the archive is not an OCI image layout: %v", err)
	}
	manifest, err := index.IndexManifest()
	if err != nil || len(manifest.Manifests) != 1 {
		t.Fatalf("want one image in the index: %v %v", manifest, err)
	}
	if ref := manifest.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; ref != "ghcr.io/vaultferry/vaultferry:"+testVersion {
		t.Errorf("ref.name = %q", ref)
	}
	img, err := index.Image(manifest.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "linux" || cfg.Architecture != "amd64" {
		t.Errorf("platform %s/%s", cfg.OS, cfg.Architecture)
	}
	if cfg.Config.User != "65532:65532" {
		t.Errorf("user %q, want the chart's 65532:65532", cfg.Config.User)
	}
	if strings.Join(cfg.Config.Entrypoint, " ") != "/vaultferry" || len(cfg.Config.Cmd) != 0 {
		t.Errorf("entrypoint %v, cmd %v: want [/vaultferry] and no shell", cfg.Config.Entrypoint, cfg.Config.Cmd)
	}
	for label, want := range map[string]string{
		"org.opencontainers.image.version": testVersion, "org.opencontainers.image.revision": "0123abcd",
		"org.opencontainers.image.created": "2026-11-28T12:00:00Z", "org.opencontainers.image.title": "vaultferry",
		"org.opencontainers.image.source": "https://github.com/vaultferry/vaultferry", "org.opencontainers.image.licenses": "Apache-2.0",
	} {
		if cfg.Config.Labels[label] != want {
			t.Errorf("label %s = %q, want %q", label, cfg.Config.Labels[label], want)
		}
	}
	// The license the image declares is the repository's.
	if license, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "LICENSE")); err != nil || !strings.Contains(string(license), "Apache License\n                           Version 2.0, January 2004") {
		t.Errorf("LICENSE is not the Apache License 2.0 the image declares (%v)", err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("want one layer: %d, %v", len(layers), err)
	}

	rootfs := filepath.Join(dir, "rootfs")
	files := untar(t, mutate.Extract(img), rootfs, func(name string) bool { return name == "vaultferry" || name == "etc/passwd" })
	for _, want := range []string{"vaultferry", "etc/passwd", "etc/group", "etc/ssl/certs/ca-certificates.crt", "tmp"} {
		if files[want] == nil {
			t.Errorf("the image lacks %s", want)
		}
	}
	if h := files["tmp"]; h != nil && h.Mode&0o1777 != 0o1777 {
		t.Errorf("/tmp mode %o, want 1777", h.Mode)
	}
	for name := range files {
		if strings.HasPrefix(name, "bin/") || strings.HasPrefix(name, "usr/") || strings.HasSuffix(name, "/sh") {
			t.Errorf("the image holds %s: it should need no shell or userland", name)
		}
	}
	if h := files["vaultferry"]; h == nil || h.Mode&0o111 == 0 || h.ModTime.UTC().Format(time.RFC3339) != "2026-11-28T12:00:00Z" {
		t.Errorf("the binary's header: %+v", h)
	}
	passwd, _ := os.ReadFile(filepath.Join(rootfs, "etc", "passwd"))
	if !regexp.MustCompile(`(?m)^nonroot:x:65532:65532:`).Match(passwd) {
		t.Errorf("/etc/passwd has no nonroot user 65532: %s", passwd)
	}

	// The binary from the image's layer runs (statically linked: no loader, no libc).
	out, err := exec.Command(filepath.Join(rootfs, "vaultferry"), "--version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "vaultferry "+testVersion+" (commit 0123abcd, built 2026-11-28T12:00:00Z)" {
		t.Errorf("vaultferry --version from the image: %q, %v", out, err)
	}

	// The same inputs build the same archive, byte for byte.
	again := filepath.Join(dir, "again.tar")
	buildArchive(t, binary, again)
	a, _ := os.ReadFile(archive)
	b, _ := os.ReadFile(again)
	if string(a) != string(b) {
		t.Error("two builds of the same inputs differ")
	}
}

// The image name is the Makefile's IMAGE, the chart's default repository
// and the kustomize manifests' image; the chart runs it as the image's user.
func TestImageNameAndUserAgree(t *testing.T) {
	root := testenv.RepoRoot()
	read := func(path string) string {
		b, err := os.ReadFile(filepath.Join(root, path))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	image := regexp.MustCompile(`(?m)^IMAGE\s+\?=\s+(\S+)$`).FindStringSubmatch(read("Makefile"))
	if image == nil {
		t.Fatal("the Makefile sets no IMAGE")
	}
	if !strings.Contains(read("charts/vaultferry/values.yaml"), "repository: "+image[1]+"\n") {
		t.Errorf("the chart's image.repository is not %s", image[1])
	}
	if !strings.Contains(read("config/manager/kustomization.yaml"), "newName: "+image[1]+"\n") {
		t.Errorf("config/manager does not deploy %s", image[1])
	}
	deployment := read("charts/vaultferry/templates/deployment.yaml")
	if !strings.Contains(deployment, "runAsUser: 65532") || !strings.Contains(deployment, "runAsGroup: 65532") {
		t.Error("the chart does not run the image's user 65532")
	}
	if !strings.Contains(read("Dockerfile"), "USER 65532:65532") {
		t.Error("the Dockerfile's user is not 65532")
	}
}
