package render

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// canary is the secret value of the tests; no error may contain it.
const canary = "hunter2-canary"

var testData = map[string]any{
	"password": canary,
	"json":     `{"user":"` + canary + `","nested":{"n":1},"list":["` + canary + `"]}`,
	"number":   "1234",
}

func TestRenderOutput(t *testing.T) {
	cases := map[string]struct {
		templates map[string]string
		want      map[string]string
	}{
		"values and functions": {
			templates: map[string]string{"dsn": `postgres://app:{{ .password | upper }}@db/{{ "x" | quote }}`},
			want:      map[string]string{"dsn": `postgres://app:HUNTER2-CANARY@db/"x"`},
		},
		"JSON in and out, maps in key order": {
			templates: map[string]string{"a": `{{ (.json | fromJson).user }}`, "b": `{{ (.json | fromJson).nested | toJson }}`, "c": `{{ range $k, $v := (.json | fromJson) }}{{ $k }},{{ end }}`},
			want:      map[string]string{"a": canary, "b": `{"n":1}`, "c": "list,nested,user,"},
		},
		"default for empty values": {
			templates: map[string]string{"k": `{{ "" | default "fallback" }}`},
			want:      map[string]string{"k": "fallback"},
		},
		"range over a small integer": {
			templates: map[string]string{"k": `{{ range 3 }}x{{ end }}`},
			want:      map[string]string{"k": "xxx"},
		},
		"printf and friends still work": {
			templates: map[string]string{"k": `{{ printf "%s-%d" "a" 1 }}{{ print "b" }}{{ urlquery "a b" }}`},
			want:      map[string]string{"k": "a-1ba+b"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := Render(context.Background(), tc.templates, testData, DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			gotStrings := map[string]string{}
			for k, v := range got {
				gotStrings[k] = string(v)
			}
			if diff := cmp.Diff(tc.want, gotStrings); diff != "" {
				t.Errorf("-want +got:\n%s", diff)
			}
		})
	}
}

// Every runtime failure text/template can report on a value is reported by
// position, action and kind, never with the value: range, if/with, eq and
// ne on non-comparable values, index, slice, len, call, missing keys and
// fields, the library's own functions.
func TestErrorsNeverContainValues(t *testing.T) {
	cases := map[string]struct {
		template string
		want     string // a part of the expected message
	}{
		"range over a string":              {`{{ range .password }}{{ end }}`, `at line 1, column 9 in {{ range }}: range cannot iterate over a value of kind string`},
		"range over a number from JSON":    {`{{ range (.json | fromJson).nested.n }}{{ end }}`, "value of kind number"},
		"two variables over an integer":    {`{{ range $i, $v := 3 }}{{ end }}`, "range"},
		"eq on non-comparable values":      {`{{ eq (.json | fromJson) (.json | fromJson) }}`, "eq: these values cannot be compared"},
		"ne on non-comparable values":      {`{{ ne (.json | fromJson).list (.json | fromJson).list }}`, "ne: "},
		"eq on incompatible types":         {`{{ eq (.json | fromJson).user 1 }}`, "eq: incompatible types for comparison"},
		"lt on strings and numbers":        {`{{ lt .password 1 }}`, "lt: "},
		"index out of range":               {`{{ index (.json | fromJson).list 5 }}`, "index: index out of range"},
		"index of a string with a string":  {`{{ index .password "x" }}`, "index: "},
		"slice with bad indexes":           {`{{ slice .password 5 2 }}`, "slice: invalid slice index"},
		"len of a number":                  {`{{ len (.json | fromJson).nested.n }}`, "len: len of type float64"},
		"call":                             {`{{ call .password }}`, `function "call" is not available`},
		"missing key":                      {`{{ .passwrd }}`, `no value named "passwrd"; the values are named: json, number, password`},
		"field of a string":                {`{{ .password.x }}`, "cannot read field x"},
		"b64dec":                           {`{{ .password | b64dec }}`, "b64dec: input is not valid base64"},
		"fromJson":                         {`{{ .password | fromJson }}`, "fromJson: input is not valid JSON"},
		"wrong argument type":              {`{{ upper (.json | fromJson).nested }}`, "wrong type of value"},
		"printf argument types are output": {`{{ printf "%d" .password | len | printf "%x" | b64dec }}`, "b64dec"},
		"if over a map":                    {`{{ if (.json | fromJson) }}{{ .password | b64dec }}{{ end }}`, "b64dec"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Render(context.Background(), map[string]string{"k": tc.template}, testData, DefaultLimits)
			if err == nil {
				t.Fatal("rendered without error")
			}
			if strings.Contains(err.Error(), canary) || strings.Contains(err.Error(), "1234") {
				t.Fatalf("error contains a value: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// Every limit stops a template that would otherwise hold a worker or grow
// the operator's memory, and the error names the limit.
func TestLimits(t *testing.T) {
	cases := map[string]struct {
		template string
		limit    string
	}{
		"huge integer range":           {`{{ range 1000000000000 }}{{ end }}`, "iterations of a range over an integer"},
		"output past the Secret limit": {`{{ range 60 }}{{ printf "%01000000d" 0 }}{{ end }}`, "bytes of output"},
		"doubling a variable":          {`{{ $x := .password }}{{ range 40 }}{{ $x = printf "%s%s" $x $x }}{{ end }}`, "bytes produced by functions"},
		"nested loops":                 {`{{ range 1000 }}{{ range 1000 }}{{ end }}{{ end }}`, "steps"},
		"exponential recursion":        {`{{ define "a" }}{{ template "a" . }}{{ template "a" . }}{{ end }}{{ template "a" . }}`, "steps"},
		"many function calls":          {`{{ range 50000 }}{{ upper "" }}{{ lower "" }}{{ end }}`, "steps"},
	}
	// The deadline has its own test: here it must not fire first on a slow
	// machine (a race-detector build takes over a second for 100,000 steps).
	limits := DefaultLimits
	limits.Timeout = time.Minute
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Render(context.Background(), map[string]string{"k": tc.template}, testData, limits)
			var limit *LimitError
			if !errors.As(err, &limit) {
				t.Fatalf("want a LimitError, got %v", err)
			}
			if !strings.Contains(err.Error(), tc.limit) {
				t.Errorf("error %q does not name the limit %q", err, tc.limit)
			}
		})
	}
}

func TestDeadlineStopsRendering(t *testing.T) {
	limits := DefaultLimits
	limits.MaxSteps = 1 << 40
	limits.Timeout = 50 * time.Millisecond
	_, err := Render(context.Background(), map[string]string{"k": `{{ range 1000000 }}{{ range 1000000 }}{{ end }}{{ end }}`}, testData, limits)
	var limit *LimitError
	if !errors.As(err, &limit) || !strings.Contains(err.Error(), "rendering time") {
		t.Fatalf("want the time limit, got %v", err)
	}
}

func TestOutputLimitCountsEveryKey(t *testing.T) {
	limits := DefaultLimits
	limits.MaxOutputBytes = 10
	_, err := Render(context.Background(), map[string]string{"a": "123456", "b": "789012"}, testData, limits)
	var limit *LimitError
	if !errors.As(err, &limit) {
		t.Fatalf("two keys of 6 bytes passed a 10-byte limit: %v", err)
	}
}

// FuzzRender renders random templates over random values: it never panics,
// stays within its limits, renders the same bytes twice, and its errors
// never contain the value.
func FuzzRender(f *testing.F) {
	f.Add("{{ .password }}", "hunter2-secret")
	f.Add("{{ range .password }}{{ end }}", "range-secret-value")
	f.Add("{{ eq (.password | fromJson) 1 }}", `{"a":"json-secret"}`)
	f.Add("{{ range 100000000 }}{{ . }}{{ end }}", "loop-secret")
	limits := Limits{MaxSteps: 10_000, MaxOutputBytes: 64 << 10, MaxProducedBytes: 1 << 20, Timeout: time.Second}
	f.Fuzz(func(t *testing.T, tmpl, value string) {
		data := map[string]any{"password": value}
		out, err := Render(context.Background(), map[string]string{"k": tmpl}, data, limits)
		again, err2 := Render(context.Background(), map[string]string{"k": tmpl}, data, limits)
		var limit *LimitError
		if err == nil && !errors.As(err2, &limit) && (err2 != nil || string(out["k"]) != string(again["k"])) {
			t.Fatalf("two renderings differ: %q / %q, %v", out["k"], again["k"], err2)
		}
		if len(out["k"]) > limits.MaxOutputBytes {
			t.Fatalf("output of %d bytes passed the limit", len(out["k"]))
		}
		if err != nil && len(value) >= 8 && !strings.Contains(tmpl, value) && strings.Contains(err.Error(), value) {
			t.Fatalf("error quotes the value: %v", err)
		}
	})
}
