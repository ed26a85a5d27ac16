package chart

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/vaultferry/vaultferry/test/testenv"
)

// One version: what the release publishes for tag v<appVersion> is the
// image the chart and the kustomize config install by default.
func TestReleasePublishesTheImageTheManifestsInstall(t *testing.T) {
	root := testenv.RepoRoot()
	read := func(path string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(root, path))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(read("charts/vaultferry/Chart.yaml"), &chart); err != nil || chart.AppVersion == "" {
		t.Fatalf("Chart.yaml appVersion: %q, %v", chart.AppVersion, err)
	}
	var kustomization struct {
		Images []struct{ Name, NewName, NewTag string } `json:"images"`
	}
	if err := yaml.Unmarshal(read("config/manager/kustomization.yaml"), &kustomization); err != nil || len(kustomization.Images) != 1 {
		t.Fatalf("config/manager images: %+v, %v", kustomization.Images, err)
	}
	image := kustomization.Images[0]
	if image.NewTag != chart.AppVersion {
		t.Errorf("kustomize installs tag %q, the chart %q", image.NewTag, chart.AppVersion)
	}
	makefile := string(read("Makefile"))
	if m := regexp.MustCompile(`(?m)^IMAGE\s*\?=\s*(\S+)`).FindStringSubmatch(makefile); m == nil || m[1] != image.NewName {
		t.Errorf("make push-image publishes %v, kustomize installs %s", m, image.NewName)
	}
	// The workflow publishes VERSION=<tag without v>, after checking it is the appVersion.
	workflow := string(read(".github/workflows/release.yaml"))
	for _, want := range []string{"make push-image VERSION=${GITHUB_REF_NAME#v}", `test "${GITHUB_REF_NAME#v}" = "$app"`} {
		if !strings.Contains(workflow, want) {
			t.Errorf("the release workflow lacks %q", want)
		}
	}
	// The check the workflow runs accepts the chart's own version and refuses another.
	check := regexp.MustCompile(`(?s)- name: Check the tag against the chart\s+run: \|\n(.*?)\n\s+- name:`).FindStringSubmatch(workflow)
	if check == nil {
		t.Fatal("no tag check step in the release workflow")
	}
	for tag, ok := range map[string]bool{"v" + chart.AppVersion: true, "v9.9.9": false} {
		cmd := exec.Command("bash", "-c", check[1])
		cmd.Dir, cmd.Env = root, append(os.Environ(), "GITHUB_REF_NAME="+tag)
		if out, err := cmd.CombinedOutput(); (err == nil) != ok {
			t.Errorf("tag %s: the check says %v (%s), want ok=%v", tag, err, out, ok)
		}
	}
}
