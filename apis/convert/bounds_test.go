package convert_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/vaultferry/vaultferry/apis/convert"
)

// esWith is an ESO ExternalSecret whose spec.data is body.
func esWith(prefix, body string) string {
	return prefix + `apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: bomb, namespace: n}
spec:
  secretStoreRef: {name: s}
  data: ` + body + "\n"
}

// laughs is the "billion laughs" document: levels of aliases, each naming
// the previous one width times; 9 x 9 is 387,420,489 nodes from 1.2 KB.
func laughs(levels, width int) string {
	var b strings.Builder
	b.WriteString("x0: &a0 [{secretKey: k, remoteRef: {key: r}}]\n")
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "x%d: &a%d [", i, i)
		for j := range width {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	return esWith(b.String(), fmt.Sprintf("*a%d", levels))
}

// Every input amplifier is bounded: alias bombs, alias cycles in sequences
// and mappings, nesting, size. Each is refused with a message that says
// what to do, the other documents of the input still convert, and
// ordinary anchors still expand.
func TestHostileInputsAreBounded(t *testing.T) {
	good := esWith("", "[{secretKey: k, remoteRef: {key: r}}]")
	deep := strings.Repeat("[", 300) + strings.Repeat("]", 300)
	cases := map[string]struct {
		doc, want string
	}{
		"nine levels of nine aliases":  {laughs(9, 9), "aliases expand to far more than the document holds"},
		"a sequence containing itself": {esWith("", "&l [*l]"), "refers to a node that contains it"},
		"a mapping containing itself":  {esWith("", "[&m {secretKey: k, remoteRef: *m}]"), "refers to a node that contains it"},
		"a cycle through two anchors":  {esWith("", "[&a {secretKey: k, remoteRef: &b {key: *a}}]"), "refers to a node that contains it"},
		"nesting without aliases":      {esWith("", deep), "nested deeper than 100 levels"},
		"nesting through aliases":      {esWith("x: &d "+deep+"\n", "*d"), "nested deeper than 100 levels"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			stdout, stderr, code := run(t, tc.doc+"---\n"+good)
			if code != convert.ExitPartial || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr does not say %q:\n%s", code, tc.want, stderr)
			}
			if strings.Count(stdout, "kind: ExternalSecret") != 1 || len(stdout) > 4096 {
				t.Errorf("want only the good document (%d bytes):\n%.2000s", len(stdout), stdout)
			}
		})
	}
	// Ordinary anchors, a few levels of them, still expand: the anchors'
	// own keys (1 + 3 + 9 + 27 entries) and data (27).
	if stdout, stderr, code := run(t, laughs(3, 3)); code != convert.ExitOK || strings.Count(stdout, "secretKey: k") != 1+3+9+27+27 {
		t.Errorf("three levels of three aliases: exit %d, %d entries\n%s", code, strings.Count(stdout, "secretKey: k"), stderr)
	}
	huge := bytes.Repeat([]byte("# padding\n"), convert.MaxInputBytes/10+1)
	if _, stderr, code := run(t, string(huge)); code != convert.ExitUsage || !strings.Contains(stderr, "larger than 32 MiB") {
		t.Errorf("an input over the size bound: exit %d, %s", code, stderr)
	}
}

// FuzzConvert runs the converter's parser and alias expansion on arbitrary
// input: it never panics or hangs, and its output stays within a bound
// proportional to the input.
func FuzzConvert(f *testing.F) {
	f.Add(laughs(2, 2))
	f.Add(esWith("", "&l [*l]"))
	f.Add(esWith("", "[{secretKey: k, remoteRef: {key: r, property: p}}]"))
	f.Add("apiVersion: v1\nkind: List\nitems: [&i {apiVersion: external-secrets.io/v1, kind: SecretStore, spec: {provider: *i}}]\n")
	f.Fuzz(func(t *testing.T, in string) {
		if len(in) > 4096 {
			return
		}
		var out, errs bytes.Buffer
		convert.Main([]string{"-"}, strings.NewReader(in), &out, &errs)
		if limit := 64*len(in) + 2<<20; out.Len() > limit {
			t.Fatalf("%d bytes of input made %d bytes of output", len(in), out.Len())
		}
	})
}
