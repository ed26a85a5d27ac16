package main

import (
	"bytes"
	"flag"
	"strings"
	"testing"
)

// --help says that the binary also converts ESO manifests, and how.
func TestUsageMentionsConvert(t *testing.T) {
	var out bytes.Buffer
	flag.CommandLine.SetOutput(&out)
	defer flag.CommandLine.SetOutput(nil)
	usage()
	if !strings.Contains(out.String(), "vaultferry convert") || !strings.Contains(out.String(), "Flags:") {
		t.Errorf("usage:\n%s", out.String())
	}
}
