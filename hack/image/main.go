// Command image builds the operator's container image as an OCI archive
// without a container daemon or network: one layer on an empty base holding
// the static binary, the CA bundle of the build machine and an /etc/passwd
// naming the non-root user the chart runs as. The Dockerfile builds the same
// image with a daemon. Timestamps come from --created (the commit date), so
// the same commit gives the same archive.
//
//	go run ./hack/image --binary bin/vaultferry-linux-amd64 --version v0.2.0 \
//	  --commit $(git rev-parse HEAD) --created 2026-11-28T12:00:00Z --out bin/vaultferry-image.tar
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// UID and GID of the image's user; the chart's securityContext runs as them.
const nonRoot = 65532

type options struct {
	binary, caBundle, out, name, version, commit, source string
	created                                              time.Time
}

func main() {
	var o options
	var created string
	flag.StringVar(&o.binary, "binary", "bin/vaultferry-linux-amd64", "The static linux/amd64 operator binary.")
	flag.StringVar(&o.caBundle, "ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "CA certificates for TLS to vaults (Debian's ca-certificates).")
	flag.StringVar(&o.out, "out", "bin/vaultferry-image.tar", "The OCI archive to write.")
	flag.StringVar(&o.name, "name", "ghcr.io/vaultferry/vaultferry", "Image name (org.opencontainers.image.ref.name is <name>:<version>).")
	flag.StringVar(&o.version, "version", "dev", "Image tag and org.opencontainers.image.version.")
	flag.StringVar(&o.commit, "commit", "unknown", "org.opencontainers.image.revision.")
	flag.StringVar(&o.source, "source", "https://github.com/vaultferry/vaultferry", "org.opencontainers.image.source.")
	flag.StringVar(&created, "created", "1970-01-01T00:00:00Z", "Creation time (RFC 3339) of the image and its files.")
	flag.Parse()
	var err error
	if o.created, err = time.Parse(time.RFC3339, created); err != nil {
		fmt.Fprintln(os.Stderr, "--created:", err)
		os.Exit(2)
	}
	if err := build(o); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s (%s:%s)\n", o.out, o.name, o.version)
}

func build(o options) error {
	binary, err := os.ReadFile(o.binary)
	if err != nil {
		return err
	}
	caBundle, err := os.ReadFile(o.caBundle)
	if err != nil {
		return fmt.Errorf("reading the CA bundle (apt-get install ca-certificates): %w", err)
	}
	files := []file{
		{name: "etc/", mode: 0o755 | fs.ModeDir},
		{name: "etc/passwd", mode: 0o644, data: fmt.Appendf(nil, "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", nonRoot, nonRoot)},
		{name: "etc/group", mode: 0o644, data: fmt.Appendf(nil, "root:x:0:\nnonroot:x:%d:\n", nonRoot)},
		{name: "etc/ssl/", mode: 0o755 | fs.ModeDir},
		{name: "etc/ssl/certs/", mode: 0o755 | fs.ModeDir},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: caBundle},
		{name: "home/", mode: 0o755 | fs.ModeDir},
		{name: "home/nonroot/", mode: 0o700 | fs.ModeDir, uid: nonRoot},
		{name: "tmp/", mode: 0o777 | fs.ModeDir | fs.ModeSticky},
		{name: "vaultferry", mode: 0o755, data: binary},
	}
	layerTar, err := tarOf(files, o.created)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerTar)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return err
	}
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1), mutate.Addendum{
		Layer: layer, History: v1.History{Created: v1.Time{Time: o.created}, CreatedBy: "hack/image: vaultferry, CA bundle, /etc/passwd"},
	})
	if err != nil {
		return err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	labels := map[string]string{
		"org.opencontainers.image.title":       "vaultferry",
		"org.opencontainers.image.description": "Kubernetes operator: secrets from external vaults as versioned, immutable Secrets",
		"org.opencontainers.image.version":     o.version,
		"org.opencontainers.image.revision":    o.commit,
		"org.opencontainers.image.created":     o.created.UTC().Format(time.RFC3339),
		"org.opencontainers.image.source":      o.source,
		"org.opencontainers.image.licenses":    "Apache-2.0",
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cfg = cfg.DeepCopy()
	cfg.Architecture, cfg.OS, cfg.Created = "amd64", "linux", v1.Time{Time: o.created}
	cfg.Config.User = fmt.Sprintf("%d:%d", nonRoot, nonRoot)
	cfg.Config.Entrypoint = []string{"/vaultferry"}
	cfg.Config.WorkingDir = "/"
	cfg.Config.Env = []string{"PATH=/", "HOME=/home/nonroot", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}
	cfg.Config.Labels = labels
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return err
	}

	dir, err := os.MkdirTemp("", "vaultferry-oci-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": o.name + ":" + o.version,
	})); err != nil {
		return err
	}
	return tarDir(dir, o.out, o.created)
}

type file struct {
	name string
	mode fs.FileMode
	uid  int
	data []byte
}

// tarOf writes files as a tar with fixed owners and times.
func tarOf(files []file, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: int64(f.mode.Perm()), Uid: f.uid, Gid: f.uid, ModTime: mtime, Format: tar.FormatPAX}
		if f.mode&fs.ModeSticky != 0 {
			h.Mode |= 0o1000
		}
		if f.mode.IsDir() {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// tarDir archives the OCI layout in dir to out, in name order with fixed
// times: an oci-archive for skopeo, podman load or crane.
func tarDir(dir, out string, mtime time.Time) error {
	var files []file
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			files = append(files, file{name: rel + "/", mode: 0o755 | fs.ModeDir})
			return nil
		}
		data, err := os.ReadFile(path)
		files = append(files, file{name: rel, mode: 0o644, data: data})
		return err
	})
	if err != nil {
		return err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	archive, err := tarOf(files, mtime)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(out, archive, 0o644)
}
