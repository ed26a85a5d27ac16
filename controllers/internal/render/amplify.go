package render

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// Most functions return about as much as they are given, and what they
// return is charged after the call. The functions here can build far more
// than they are given (repeat 1000000000, indent 1000000000, printf
// "%1000000d" many times, toPrettyJson of a list holding itself twice at
// every level), so the size of their result is estimated from the arguments
// before the call and refused when it would pass the budget.

// estimator returns an upper estimate of the bytes a call would build; it
// may stop counting once the estimate passes limit.
type estimator func(args []any, limit int) int

// estimators are the functions whose result can outgrow their arguments.
var estimators = map[string]estimator{
	"repeat": func(a []any, _ int) int { return mulSat(intArg(a, 0), strLen(a, 1)) },
	"indent": func(a []any, _ int) int {
		return mulSat(intArg(a, 0), strings.Count(strArg(a, 1), "\n")+1) + strLen(a, 1)
	},
	"nindent": func(a []any, _ int) int {
		return mulSat(intArg(a, 0), strings.Count(strArg(a, 1), "\n")+2) + strLen(a, 1)
	},
	"wrapWith": func(a []any, _ int) int {
		return mulSat(strLen(a, 2)/max(intArg(a, 0), 1)+1, strLen(a, 1)) + strLen(a, 2)
	},
	"until":     func(a []any, _ int) int { return mulSat(intArg(a, 0), 16) },
	"untilStep": func(a []any, _ int) int { return mulSat(stepCount(intArg(a, 0), intArg(a, 1), intArg(a, 2)), 16) },
	"seq":       seqSize,
	"join": func(a []any, limit int) int {
		n := 0
		if len(a) > 1 {
			if v := reflect.ValueOf(a[1]); v.Kind() == reflect.Slice || v.Kind() == reflect.Array {
				n = v.Len()
			}
		}
		return mulSat(n, strLen(a, 0)) + formattedSize(a[1:], limit, 0)
	},
	"printf": func(a []any, limit int) int {
		return formatWidths(strArg(a, 0), a[1:]) + formattedSize(a, limit, 0)
	},
	"toPrettyJson":     prettySize,
	"mustToPrettyJson": prettySize,
	"toYaml":           prettySize,
}

func init() {
	// Functions that format, encode or copy the whole structure of their
	// arguments: a list that holds itself twice at every level is small in
	// memory and exponential once written out. The numeric ones take any
	// value and, given a list or map, format it into their error (%#v).
	for _, name := range []string{"print", "println", "toJson", "mustToJson", "toRawJson", "mustToRawJson", "toString", "toStrings",
		"quote", "squote", "cat", "html", "js", "urlquery", "deepCopy", "mustDeepCopy", "merge", "mustMerge", "mergeOverwrite",
		"mustMergeOverwrite", "sortAlpha", "deepEqual", "fail",
		"add", "add1", "sub", "mul", "div", "mod", "max", "min", "biggest", "addf", "add1f", "subf", "mulf", "divf", "maxf", "minf",
		"ceil", "floor", "round", "int", "int64", "float64", "toDecimal"} {
		estimators[name] = func(a []any, limit int) int { return formattedSize(a, limit, 0) }
	}
}

// printGuard is inserted at the end of every action that prints: text/
// template writes a list or map with fmt, which builds all of it in memory
// first (before the output cap sees it) and recurses forever on a map that
// holds itself.
func (b *budget) printGuard(v any) (any, error) {
	switch reflect.ValueOf(v).Kind() {
	case reflect.Map, reflect.Slice, reflect.Array, reflect.Struct, reflect.Pointer, reflect.Interface:
		if err := b.reserve("printing a value", formattedSize([]any{v}, b.remaining(), 0)); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// refuseCycles fails when one of the values reaches the map dict: set and
// merge would make it hold itself.
func refuseCycles(name string, dict map[string]any, values ...any) error {
	target := reflect.ValueOf(dict).UnsafePointer()
	seen := map[unsafe.Pointer]bool{}
	var reaches func(v reflect.Value) bool
	reaches = func(v reflect.Value) bool {
		for v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return false
			}
			v = v.Elem()
		}
		switch v.Kind() {
		case reflect.Map:
			p := v.UnsafePointer()
			if p == target {
				return true
			}
			if seen[p] {
				return false
			}
			seen[p] = true
			iter := v.MapRange()
			for iter.Next() {
				if reaches(iter.Value()) {
					return true
				}
			}
		case reflect.Slice, reflect.Array:
			if v.Kind() == reflect.Slice && v.Len() > 0 {
				p := v.Index(0).Addr().UnsafePointer()
				if seen[p] {
					return false
				}
				seen[p] = true
			}
			for i := range v.Len() {
				if reaches(v.Index(i)) {
					return true
				}
			}
		}
		return false
	}
	for _, v := range values {
		if reaches(reflect.ValueOf(v)) {
			return safeErrorf("%s would make a map contain itself", name)
		}
	}
	return nil
}

func prettySize(a []any, limit int) int { return formattedSize(a, limit, 2) }

// remaining is what is left of the budget of bytes functions may build.
func (b *budget) remaining() int { return b.limits.MaxProducedBytes - b.produced }

// reserve refuses a call of name whose estimated result passes the budget.
func (b *budget) reserve(name string, estimate int) error {
	if estimate > b.remaining() {
		return &LimitError{Limit: fmt.Sprintf("%d bytes produced by functions (%s would build about %d more)", b.limits.MaxProducedBytes, name, estimate)}
	}
	return nil
}

// formattedSize estimates the bytes of writing vals out, walking their
// structure with every element costing at least a byte plus indent bytes per
// level of nesting; it stops once the estimate passes limit, so that a
// structure sharing itself is not walked exponentially.
func formattedSize(vals []any, limit, indent int) int {
	total := 0
	var walk func(v reflect.Value, depth int)
	walk = func(v reflect.Value, depth int) {
		if total > limit {
			return
		}
		total += 8 + depth*indent // brackets, quotes, separators
		switch v.Kind() {
		case reflect.Interface, reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem(), depth)
			}
		case reflect.String:
			total += v.Len()
		case reflect.Slice, reflect.Array:
			if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
				total += v.Len()
				return
			}
			for i := range v.Len() {
				walk(v.Index(i), depth+1)
			}
		case reflect.Map:
			iter := v.MapRange()
			for iter.Next() {
				walk(iter.Key(), depth+1)
				walk(iter.Value(), depth+1)
			}
		case reflect.Struct:
			for i := range v.NumField() {
				walk(v.Field(i), depth+1)
			}
		default:
			total += 24 // a number or bool in decimal
		}
	}
	for _, v := range vals {
		walk(reflect.ValueOf(v), 0)
	}
	return total
}

// formatWidths adds up the widths and precisions a printf format asks for
// (fmt caps each at 1e6, but a format can have many); a '*' takes its width
// from an argument, so every integer argument is counted then.
func formatWidths(format string, args []any) int {
	total, star := 0, false
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		for i++; i < len(format) && strings.IndexByte("+-# 0123456789.*[]", format[i]) >= 0; i++ {
			switch c := format[i]; {
			case c == '*':
				star = true
			case c >= '1' && c <= '9' && (format[i-1] < '0' || format[i-1] > '9'):
				n := 0
				for ; i < len(format) && format[i] >= '0' && format[i] <= '9'; i++ {
					n = min(n*10+int(format[i]-'0'), 1_000_000)
				}
				i--
				total += n
			}
		}
	}
	if star {
		for _, a := range args {
			if n, ok := a.(int); ok && n > 0 {
				total += min(n, 1_000_000)
			}
		}
	}
	return total
}

// replace is sprig's replace (replace old new s) that counts what it builds.
func (b *budget) replace(old, replacement, s string) (string, error) {
	n := strings.Count(s, old)
	if old == "" {
		n = utf8.RuneCountInString(s) + 1
	}
	if err := b.reserve("replace", mulSat(n, len(replacement))+len(s)); err != nil {
		return "", err
	}
	return strings.ReplaceAll(s, old, replacement), nil
}

// regexReplace is sprig's regexReplaceAll (regex, s, repl), expanding $1
// unless literal, that stops as soon as its output passes the budget.
func (b *budget) regexReplace(name, expr, s, repl string, literal bool) (string, error) {
	re, err := regexp.Compile(expr)
	if err != nil {
		return "", safeErrorf("%s: the regular expression does not compile", name)
	}
	n := len(re.FindAllStringIndex(s, -1))
	if literal {
		if err := b.reserve(name, mulSat(n, len(repl))+len(s)); err != nil {
			return "", err
		}
		return re.ReplaceAllLiteralString(s, repl), nil
	}
	if err := b.reserve(name, mulSat(n, 16*(re.NumSubexp()+1))); err != nil {
		return "", err
	}
	var out []byte
	last := 0
	for _, sub := range re.FindAllStringSubmatchIndex(s, -1) {
		out = append(out, s[last:sub[0]]...)
		out = re.ExpandString(out, repl, s, sub)
		last = sub[1]
		if len(out) > b.remaining() {
			return "", b.reserve(name, len(out))
		}
		if b.ctx.Err() != nil {
			return "", b.step(0) // reports the deadline
		}
	}
	out = append(out, s[last:]...)
	return string(out), nil
}

func stepCount(start, stop, step int) int {
	switch {
	case step == 0 || (stop > start) != (step > 0):
		return 0
	case step > 0:
		return (stop - start + step - 1) / step
	default:
		return (start - stop - step - 1) / -step
	}
}

// seqSize estimates sprig's seq: seq last, seq first last, seq first step last.
func seqSize(a []any, _ int) int {
	first, step, last := 1, 1, 0
	switch len(a) {
	case 1:
		last = intArg(a, 0)
	case 2:
		first, last = intArg(a, 0), intArg(a, 1)
		if last < first {
			step = -1
		}
	case 3:
		first, step, last = intArg(a, 0), intArg(a, 1), intArg(a, 2)
	}
	if step > 0 {
		last++
	} else {
		last--
	}
	return mulSat(stepCount(first, last, step), 21)
}

// mulSat multiplies non-negative sizes without overflowing.
func mulSat(a, b int) int {
	if a <= 0 || b <= 0 {
		return 0
	}
	if a > (1<<62)/b {
		return 1 << 62
	}
	return a * b
}

func intArg(a []any, i int) int {
	if i < len(a) {
		switch n := a[i].(type) {
		case int:
			return n
		case int64:
			return int(n)
		}
	}
	return 0
}

func strArg(a []any, i int) string {
	if i < len(a) {
		if s, ok := a[i].(string); ok {
			return s
		}
	}
	return ""
}

func strLen(a []any, i int) int { return len(strArg(a, i)) }
