package render

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"text/template"
)

// library is the documented function set of templates. A function's errors
// never quote its input, which is secret: they are safeErrors.
//
//	b64enc, b64dec   base64 (standard encoding) of a string
//	toJson, fromJson JSON encoding of any value / decoding of a string
//	upper, lower     case mapping
//	trim             strip leading and trailing white space
//	quote            a Go double-quoted string literal
//	default          {{ .x | default "fallback" }}: fallback when x is empty
//
// Of text/template's builtins, the ones that build strings (print, printf,
// println, html, js, urlquery) are replaced by the same functions wrapped
// like these, so their output counts against the budget; call is refused.
func library() map[string]any {
	return map[string]any{
		"b64enc": func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
		"b64dec": func(s string) (string, error) {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return "", safeErrorf("b64dec: input is not valid base64")
			}
			return string(b), nil
		},
		"toJson": func(v any) (string, error) {
			b, err := json.Marshal(v)
			if err != nil {
				return "", safeErrorf("toJson: a value of kind %s cannot be encoded as JSON", kindOf(v))
			}
			return string(b), nil
		},
		"fromJson": func(s string) (any, error) {
			var v any
			if err := json.Unmarshal([]byte(s), &v); err != nil {
				return nil, safeErrorf("fromJson: input is not valid JSON")
			}
			return v, nil
		},
		"upper": strings.ToUpper,
		"lower": strings.ToLower,
		"trim":  strings.TrimSpace,
		"quote": strconv.Quote,
		"default": func(fallback any, v any) any {
			if v == nil {
				return fallback
			}
			if s, ok := v.(string); ok && s == "" {
				return fallback
			}
			return v
		},

		"print":    fmt.Sprint,
		"printf":   fmt.Sprintf,
		"println":  fmt.Sprintln,
		"html":     template.HTMLEscaper,
		"js":       template.JSEscaper,
		"urlquery": template.URLQueryEscaper,
		"call": func(...any) (string, error) {
			return "", safeErrorf("call is not available: templates cannot call functions held in data")
		},
	}
}

// funcs is the library bound to b: every function costs a step and the
// length of the string it returns, and the inserted instruments are added.
func (b *budget) funcs() template.FuncMap {
	m := template.FuncMap{}
	for name, fn := range library() {
		m[name] = b.metered(fn)
	}
	m[stepFunc] = func() (string, error) { return "", b.step(0) }
	m[rangeFunc] = b.rangeGuard
	return m
}

var errorType = reflect.TypeFor[error]()

// metered wraps fn into a function returning (result, error) that charges
// the budget for every call. A panic inside fn becomes an error that does
// not print the panic value (text/template would print it).
func (b *budget) metered(fn any) any {
	v := reflect.ValueOf(fn)
	t := v.Type()
	in := make([]reflect.Type, t.NumIn())
	for i := range in {
		in[i] = t.In(i)
	}
	wrapped := reflect.FuncOf(in, []reflect.Type{t.Out(0), errorType}, t.IsVariadic())
	return reflect.MakeFunc(wrapped, func(args []reflect.Value) (results []reflect.Value) {
		fail := func(err error) []reflect.Value {
			return []reflect.Value{reflect.Zero(t.Out(0)), reflect.ValueOf(&err).Elem()}
		}
		defer func() {
			if recover() != nil {
				results = fail(safeErrorf("the function failed on a value of an unexpected kind"))
			}
		}()
		var out []reflect.Value
		if t.IsVariadic() {
			out = v.CallSlice(args)
		} else {
			out = v.Call(args)
		}
		if len(out) == 2 && !out[1].IsNil() {
			return fail(out[1].Interface().(error))
		}
		produced := 0
		if out[0].Kind() == reflect.String {
			produced = out[0].Len()
		}
		if err := b.step(produced); err != nil {
			return fail(err)
		}
		return []reflect.Value{out[0], reflect.Zero(errorType)}
	}).Interface()
}

// safeError is an error whose message was written to contain no data.
type safeError struct{ msg string }

func (e *safeError) Error() string { return e.msg }

// safeErrorf formats a safeError; args must never be derived from values.
func safeErrorf(format string, args ...any) error {
	return &safeError{msg: fmt.Sprintf(format, args...)}
}
