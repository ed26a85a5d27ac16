package metrics

import "testing"

func TestAppendLabelValue(t *testing.T) {
	for in, want := range map[string]string{
		"Synced":             "Synced",
		`a"b`:                `a\"b`,
		`back\slash`:         `back\\slash`,
		"two\nlines":         `two\nlines`,
		"ünïcode stays":      "ünïcode stays",
		`all\"` + "\n" + `"`: `all\\\"\n\"`,
	} {
		if got := string(appendLabelValue(nil, in)); got != want {
			t.Errorf("%q: got %s, want %s", in, got, want)
		}
	}
}
