package render

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// Error is a template failure that is safe to put in a condition, an event
// or a log: text/template's runtime errors print the values they fail on
// ("range can't iterate over hunter2"), so the message is rebuilt from the
// template key, the position, the action (template source) and a problem
// from an allow-list of message shapes whose variable parts are types,
// names and numbers from the template itself. Anything else is withheld.
type Error struct {
	// Key is the template's key in target.template.data.
	Key string
	// Position is "line L, column C" in the template, when known.
	Position string
	// Action is the template source of the failing action, when known.
	Action string
	// Problem says what went wrong, without data.
	Problem string
	// Limit is set when a rendering limit was hit.
	Limit *LimitError
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "template for key %q", e.Key)
	if e.Position != "" {
		b.WriteString(" at " + e.Position)
	}
	if e.Action != "" {
		b.WriteString(" in {{ " + e.Action + " }}")
	}
	b.WriteString(": " + e.Problem)
	return b.String()
}

// Unwrap returns the LimitError, if any.
func (e *Error) Unwrap() error {
	if e.Limit != nil {
		return e.Limit
	}
	return nil
}

// execPrefix is how text/template starts an execution error:
// `template: NAME:LINE:COL: executing "NAME" at <ACTION>: PROBLEM`.
var execPrefix = regexp.MustCompile(`^template: .*?:(\d+):(\d+): executing ".*?" at <(.*?)>: `)

// actionNames maps the names of inserted instruments to what the user wrote.
var actionNames = map[string]string{stepFunc: "", rangeFunc: "range", printFunc: "print"}

// explain turns an execution error into an *Error; names are the keys of
// the data, listed when the template asks for one that does not exist.
func explain(key string, err error, names []string) error {
	e := &Error{Key: key, Problem: "execution failed (details withheld: they could contain secret values)"}
	msg := err.Error()
	if m := execPrefix.FindStringSubmatch(msg); m != nil {
		e.Position = fmt.Sprintf("line %s, column %s", m[1], m[2])
		e.Action = m[3]
		if name, ok := actionNames[e.Action]; ok {
			e.Action = name
			if name == "" { // a step: its position is not in the source
				e.Position = ""
			}
		}
		msg = msg[len(m[0]):]
	}
	var safe *safeError
	switch {
	case limitOf(err) != nil:
		e.Limit = limitOf(err)
		e.Problem = e.Limit.Error()
	case errors.As(err, &safe):
		e.Problem = safe.msg
	default:
		if p, ok := problem(msg); ok {
			e.Problem = p
		}
		if strings.HasPrefix(e.Problem, noValuePrefix) {
			e.Problem += "; the values are named: " + strings.Join(names, ", ")
		}
	}
	return e
}

const noValuePrefix = "no value named "

// problemShape is one allowed shape of a text/template error: when pattern
// matches the whole message, say is the message shown. say may refer to
// captures ($1), and those are checked against safePart.
type problemShape struct {
	pattern *regexp.Regexp
	say     string
}

// safePart is what a capture kept in a message may look like: a Go type, an
// identifier, a number or a template name from the template source.
// (A function, not a regexp: {0,100} compiles to half a megabyte.)
func safePart(part string) bool {
	if len(part) > 100 {
		return false
	}
	for _, c := range part {
		isAlnum := c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !isAlnum && !strings.ContainsRune(`_ .[]{}*$"'/:-`, c) {
			return false
		}
	}
	return true
}

func shape(pattern, say string) problemShape {
	return problemShape{pattern: regexp.MustCompile("^(?:" + pattern + ")$"), say: say}
}

// problems are text/template's runtime messages (Go 1.26 exec.go and
// funcs.go). Values appear only in the messages mapped to fixed text.
// Compiled when a template first fails: the patterns are 140 KiB of heap
// that most operators never need.
var problems = sync.OnceValue(func() []problemShape {
	return []problemShape{
		shape(`error calling (\w+): index out of range: -?\d+`, "$1: index out of range"),
		shape(`error calling (\w+): invalid slice index: -?\d+ > -?\d+`, "$1: invalid slice index"),
		shape(`error calling (\w+): (cannot index slice/array with (?:nil|type .+)|can't index item of type .+|index of (?:untyped nil|nil pointer)|slice of (?:untyped nil|nil pointer)|too many slice indexes: \d+|cannot 3-index slice a string|can't slice item of type .+|len of (?:nil pointer|type .+))`, "$1: $2"),
		shape(`error calling (\w+): (incompatible types for comparison: .+ and .+|invalid type for comparison|missing argument for comparison)`, "$1: $2"),
		shape(`error calling (\w+): non-comparable types? .*`, "$1: these values cannot be compared"),
		shape(`error calling (\w+): .*`, "$1: failed (details withheld: they could contain secret values)"),
		shape(`map has no entry for key "(.*)"|nil data; no entry for key "(.*)"`, noValuePrefix+"\"$1$2\""),
		shape(`can't evaluate field (\w+) in type (.+)`, "cannot read field $1 of a value of type $2"),
		shape(`wrong type for value; expected (.+); got (.+)`, "wrong type of value: expected $1, got $2"),
		shape(`(wrong number of args for \w+: (?:want|got)[\w ]+)`, "$1"),
		shape(`range can't iterate over .*`, "range cannot iterate over this value"),
		shape(`if/with can't use .*`, "if/with cannot use this value"),
		shape(`can't use .* iterate over more than one variable`, "cannot iterate over this value with two variables"),
		shape(`(exceeded maximum template depth \(\d+\))`, "$1"),
		shape(`template "(.*)" not defined`, "template \"$1\" is not defined"),
		shape(`"(.*)" is not a defined function`, "\"$1\" is not a defined function"),
		shape(`(undefined variable: \$\w*)`, "$1"),
		shape(`can't give argument to non-function .*`, "cannot give an argument to a value that is not a function"),
		shape(`invalid value; expected (.+)`, "invalid value; expected $1"),
		shape(`cannot assign nil to (.+)`, "cannot assign nil to $1"),
		shape(`can't print .* of type (.+)`, "cannot print a value of type $1"),
		shape(`.* overflows int`, "a number overflows int"),
		shape(`nil pointer evaluating (.+)`, "nil pointer evaluating $1"),
		shape(`(\w+) is not a method but has arguments|(\w+) has arguments but cannot be invoked as function`, "$1$2 takes no arguments"),
		shape(`expected (bool|string|integer|unsigned integer|float|complex); found .*`, "expected a $1 argument"),
	}
})

// problem maps a text/template message to a message without data.
func problem(msg string) (string, bool) {
	for _, p := range problems() {
		m := p.pattern.FindStringSubmatchIndex(msg)
		if m == nil {
			continue
		}
		for i := 2; i < len(m); i += 2 {
			if m[i] >= 0 && !safePart(msg[m[i]:m[i+1]]) {
				return "", false
			}
		}
		return string(p.pattern.ExpandString(nil, p.say, msg, m)), true
	}
	return "", false
}

// parseProblem is a parse error's message without the "template: " prefix.
// Parse errors come from the template source alone, never from data.
func parseProblem(err error) string {
	msg := strings.TrimPrefix(err.Error(), "template: ")
	if m := undefinedFunction.FindStringSubmatch(msg); m != nil {
		msg += fmt.Sprintf(": %q is not in vaultferry's template functions (the README lists them)", m[1])
	}
	return msg
}

var undefinedFunction = regexp.MustCompile(`function "(\w+)" not defined$`)
