// Package render executes tenants' Go text/templates over secret values,
// safely for a shared operator:
//
//   - bounded: a step budget (loop iterations, template calls and function
//     calls), a budget of bytes produced by functions, a cap on the output
//     and a deadline, so that no template can hold a worker or exhaust the
//     operator's memory;
//   - quiet: errors name the template key, the position, the action and the
//     kind of the offending value, never the value itself, because
//     text/template's own runtime errors print values (see Error);
//   - closed: only the functions of this package exist; nothing reads the
//     environment, files, the network, the clock or a random source.
package render

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"text/template"
	"text/template/parse"
	"time"
)

// Limits bound one Render call, across all of its templates.
type Limits struct {
	// MaxSteps bounds loop iterations, template invocations and function calls.
	MaxSteps int
	// MaxOutputBytes bounds the rendered output of all templates together.
	MaxOutputBytes int
	// MaxProducedBytes bounds the bytes that functions return, all calls
	// together, so that values built in variables count too.
	MaxProducedBytes int
	// Timeout bounds the wall time of the whole rendering.
	Timeout time.Duration
}

// DefaultLimits fit any template a Secret needs: the output cap is the
// Kubernetes Secret size limit.
var DefaultLimits = Limits{
	MaxSteps:         100_000,
	MaxOutputBytes:   1 << 20,
	MaxProducedBytes: 32 << 20,
	Timeout:          time.Second,
}

// Names of the functions this package inserts into parsed templates; the
// "vf" prefix keeps them out of the way of user functions.
const (
	stepFunc  = "vfStep"
	rangeFunc = "vfRange"
	printFunc = "vfPrint"
)

// Render executes each template with data as its dot ({{ .password }}) and
// returns the output by key. A reference to a key missing from data is an
// error. Templates run in key order, so the same input always fails at the
// same place. Errors are *Error or *LimitError and never contain data.
func Render(ctx context.Context, templates map[string]string, data map[string]any, limits Limits) (map[string][]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, limits.Timeout)
	defer cancel()
	b := &budget{ctx: ctx, limits: limits}
	out := make(map[string][]byte, len(templates))
	names := slices.Sorted(maps.Keys(data))
	for _, key := range slices.Sorted(maps.Keys(templates)) {
		rendered, err := renderOne(b, key, templates[key], data, names)
		if err != nil {
			return nil, err
		}
		out[key] = rendered
	}
	return out, nil
}

func renderOne(b *budget, key, text string, data map[string]any, names []string) ([]byte, error) {
	tmpl, err := parseTemplate(b, key, text)
	if err != nil {
		return nil, err
	}
	out := &cappedWriter{budget: b}
	if err := tmpl.Execute(out, data); err != nil {
		return nil, explain(key, err, names)
	}
	return out.buf.Bytes(), nil
}

// parseTemplate parses text and instruments every template body and range
// body with a step, and every range pipeline with a guard.
func parseTemplate(b *budget, key, text string) (*template.Template, error) {
	tmpl, err := template.New(key).Option("missingkey=error").Funcs(parseFuncs(text)).Parse(text)
	if err != nil {
		return nil, &Error{Key: key, Problem: parseProblem(err)}
	}
	used := map[string]bool{}
	for _, t := range tmpl.Templates() {
		if t.Tree == nil || t.Root == nil {
			continue
		}
		if err := functionsUsed(t.Root, used); err != nil {
			return nil, &Error{Key: key, Problem: err.Error()}
		}
		instrument(t.Root, true) // a template invocation costs a step
	}
	return tmpl.Funcs(b.funcsFor(used)), nil
}

// functionsUsed adds the functions n names to used, and fails on the first
// refused one, even in a branch that would not run, so that the template is
// refused as written rather than when its data takes that branch.
func functionsUsed(n parse.Node, used map[string]bool) error {
	var found error
	var walk func(parse.Node)
	walk = func(n parse.Node) {
		if found != nil || n == nil || reflect.ValueOf(n).IsNil() {
			return
		}
		switch n := n.(type) {
		case *parse.IdentifierNode:
			used[n.Ident] = true
			if reason, ok := refused[n.Ident]; ok {
				found = &refusedError{name: n.Ident, reason: reason}
			}
		case *parse.ListNode:
			for _, c := range n.Nodes {
				walk(c)
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			for _, c := range n.Cmds {
				walk(c)
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.ChainNode:
			walk(n.Node)
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			walk(n.Pipe)
		}
	}
	walk(n)
	return found
}

// instrument routes each range pipeline in list through rangeFunc, which
// refuses non-iterable values without printing them and bounds integer
// ranges, and, when counts, makes executing list cost a step (a call of
// stepFunc at its top). Range bodies count, so every loop iteration does.
func instrument(list *parse.ListNode, counts bool) {
	if list == nil {
		return
	}
	for _, n := range list.Nodes {
		switch n := n.(type) {
		case *parse.ActionNode:
			if len(n.Pipe.Decl) == 0 && !n.Pipe.IsAssign { // it prints
				pipeInto(n.Pipe, printFunc)
			}
		case *parse.RangeNode:
			pipeInto(n.Pipe, rangeFunc)
			instrument(n.List, true)
			instrument(n.ElseList, false)
		case *parse.IfNode:
			instrument(n.List, false)
			instrument(n.ElseList, false)
		case *parse.WithNode:
			instrument(n.List, false)
			instrument(n.ElseList, false)
		}
	}
	if counts {
		list.Nodes = append([]parse.Node{call(stepFunc)}, list.Nodes...)
	}
}

// pipeInto ends pipe with a call of the function name, which gets the
// pipeline's value as its argument ({{ x | name }}).
func pipeInto(pipe *parse.PipeNode, name string) {
	guard := parse.NewIdentifier(name).SetPos(pipe.Pos)
	pipe.Cmds = append(pipe.Cmds, &parse.CommandNode{NodeType: parse.NodeCommand, Pos: pipe.Pos, Args: []parse.Node{guard}})
}

// call is the action {{ name }}.
func call(name string) *parse.ActionNode {
	return &parse.ActionNode{NodeType: parse.NodeAction, Pipe: &parse.PipeNode{
		NodeType: parse.NodePipe,
		Cmds:     []*parse.CommandNode{{NodeType: parse.NodeCommand, Args: []parse.Node{parse.NewIdentifier(name)}}},
	}}
}

// budget is the shared allowance of one Render call.
type budget struct {
	ctx      context.Context
	limits   Limits
	steps    int
	produced int
	written  int
}

// step charges one step and n produced bytes.
func (b *budget) step(n int) error {
	b.steps++
	b.produced += n
	switch {
	case b.steps > b.limits.MaxSteps:
		return &LimitError{Limit: fmt.Sprintf("%d steps (loop iterations, template calls and function calls)", b.limits.MaxSteps)}
	case b.produced > b.limits.MaxProducedBytes:
		return &LimitError{Limit: fmt.Sprintf("%d bytes produced by functions", b.limits.MaxProducedBytes)}
	case b.ctx.Err() != nil:
		return &LimitError{Limit: fmt.Sprintf("%s of rendering time", b.limits.Timeout)}
	}
	return nil
}

// rangeGuard passes iterable values through and refuses others by kind.
func (b *budget) rangeGuard(v any) (any, error) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Invalid, reflect.Map, reflect.Slice, reflect.Array:
		return v, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if rv.Int() > int64(b.limits.MaxSteps) {
			return nil, &LimitError{Limit: fmt.Sprintf("%d iterations of a range over an integer", b.limits.MaxSteps)}
		}
		return v, nil
	}
	return nil, safeErrorf("range cannot iterate over a value of kind %s: only lists, maps and integers", kindOf(v))
}

// cappedWriter is the template output, refusing to grow past the limit.
type cappedWriter struct {
	buf    bytes.Buffer
	budget *budget
}

func (w *cappedWriter) Write(p []byte) (int, error) {
	w.budget.written += len(p)
	if w.budget.written > w.budget.limits.MaxOutputBytes {
		return 0, &LimitError{Limit: fmt.Sprintf("%d bytes of output (the Secret size limit)", w.budget.limits.MaxOutputBytes)}
	}
	return w.buf.Write(p)
}

// LimitError reports that a rendering hit one of its Limits.
type LimitError struct {
	// Limit names the cap that was hit, with its value.
	Limit string
}

func (e *LimitError) Error() string { return "template exceeded the limit of " + e.Limit }

// kindOf names the kind of a template value for error messages: string,
// number, bool, map, list or nil. It never looks at the value itself.
func kindOf(v any) string {
	switch reflect.ValueOf(v).Kind() {
	case reflect.Invalid:
		return "nil"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "bool"
	case reflect.Map:
		return "map"
	case reflect.Slice, reflect.Array:
		return "list"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "number"
	default:
		return "other"
	}
}

// limitOf finds a LimitError in err's chain.
func limitOf(err error) *LimitError {
	var limit *LimitError
	if errors.As(err, &limit) {
		return limit
	}
	return nil
}
