package render

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"sigs.k8s.io/yaml"
)

// Group is one documented group of template functions.
type Group struct {
	// Name of the group, as in the README.
	Name string
	// Functions in the group.
	Functions []string
}

// Catalog is the allow-list of template functions, grouped as the README
// lists them. A function is available only if it is named here; sprig's
// implementation is used unless this package defines its own (see own).
var Catalog = []Group{
	{"strings", []string{"abbrev", "abbrevboth", "trunc", "trim", "trimAll", "trimall", "trimPrefix", "trimSuffix", "upper", "lower", "title", "untitle",
		"substr", "repeat", "nospace", "initials", "swapcase", "snakecase", "camelcase", "kebabcase", "wrap", "wrapWith", "contains", "hasPrefix", "hasSuffix",
		"quote", "squote", "cat", "indent", "nindent", "replace", "plural", "toString", "toStrings", "split", "splitList", "splitn", "join", "sortAlpha",
		"print", "printf", "println", "html", "js", "urlquery"}},
	{"lists", []string{"list", "tuple", "first", "mustFirst", "rest", "mustRest", "last", "mustLast", "initial", "mustInitial", "append", "mustAppend", "push", "mustPush",
		"prepend", "mustPrepend", "concat", "reverse", "mustReverse", "uniq", "mustUniq", "without", "mustWithout", "has", "mustHas", "compact", "mustCompact",
		"mustSlice", "chunk", "mustChunk", "until", "untilStep", "seq"}},
	{"dicts", []string{"dict", "get", "set", "unset", "hasKey", "pluck", "dig", "keys", "values", "pick", "omit", "merge", "mustMerge", "mergeOverwrite",
		"mustMergeOverwrite", "deepCopy", "mustDeepCopy"}},
	{"math", []string{"add", "add1", "sub", "mul", "div", "mod", "max", "min", "biggest", "addf", "add1f", "subf", "mulf", "divf", "maxf", "minf",
		"ceil", "floor", "round", "atoi", "int", "int64", "float64", "toDecimal"}},
	{"logic and types", []string{"default", "empty", "coalesce", "all", "any", "ternary", "fail", "typeOf", "typeIs", "typeIsLike", "kindOf", "kindIs", "deepEqual"}},
	{"encoding", []string{"b64enc", "b64dec", "b32enc", "b32dec", "hexenc", "hexdec"}},
	{"hashing", []string{"sha1sum", "sha256sum", "sha512sum", "adler32sum"}},
	{"regular expressions", []string{"regexMatch", "mustRegexMatch", "regexFind", "mustRegexFind", "regexFindAll", "mustRegexFindAll", "regexReplaceAll",
		"mustRegexReplaceAll", "regexReplaceAllLiteral", "mustRegexReplaceAllLiteral", "regexSplit", "mustRegexSplit", "regexQuoteMeta"}},
	{"semantic versions", []string{"semver", "semverCompare"}},
	{"JSON and YAML", []string{"toJson", "mustToJson", "toPrettyJson", "mustToPrettyJson", "toRawJson", "mustToRawJson", "fromJson", "mustFromJson",
		"toYaml", "fromYaml", "fromYamlArray"}},
	{"paths and URLs", []string{"base", "dir", "clean", "ext", "isAbs", "urlParse", "urlJoin", "urlEscape"}},
	{"certificates and keys", []string{"splitPEM", "filterPEM", "filterCertChain", "certSANs", "pkcs12cert", "pkcs12certPass", "pkcs12key", "pkcs12keyPass",
		"pemToPkcs12", "pemToPkcs12Pass", "fullPemToPkcs12", "fullPemToPkcs12Pass", "jwkPublicKeyPem", "jwkPrivateKeyPem"}},
}

// Reasons a function is refused, shared by the functions of a kind.
const (
	readsEnvironment = "it reads the operator's environment"
	readsNetwork     = "it resolves names through the network, which would let a template send values out"
	readsClock       = "it depends on the clock or time zones, so the same data would render differently on every sync and create a new version each time"
	readsRandom      = "it uses a random source, so the same data would render differently on every sync and create a new version each time"
	readsCluster     = "templates cannot read the cluster: only the fetched values and templateFrom sources of the ExternalSecret's own namespace are available"
	generatesCrypto  = "it generates keys or certificates with a random source; issue them in the vault"
	dependsOnOS      = "it depends on the operator's platform; use base, dir, clean, ext or isAbs"
)

// refused are functions people know from sprig, ESO or Helm that templates
// deliberately lack, with the reason. Templates naming one fail to parse.
var refused = map[string]string{
	"env": readsEnvironment, "expandenv": readsEnvironment,
	"getHostByName": readsNetwork,
	"now":           readsClock, "ago": readsClock, "date": readsClock, "dateInZone": readsClock, "date_in_zone": readsClock, "dateModify": readsClock,
	"date_modify": readsClock, "mustDateModify": readsClock, "must_date_modify": readsClock, "htmlDate": readsClock, "htmlDateInZone": readsClock, "toDate": readsClock,
	"mustToDate": readsClock, "unixEpoch": readsClock, "duration": readsClock, "durationRound": readsClock,
	"randAlpha": readsRandom, "randAlphaNum": readsRandom, "randAscii": readsRandom, "randNumeric": readsRandom, "randBytes": readsRandom,
	"randInt": readsRandom, "uuidv4": readsRandom, "shuffle": readsRandom, "encryptAES": readsRandom, "decryptAES": "it only makes sense with encryptAES, which is refused",
	"bcrypt":         "it salts at random, so every sync would create a new version; hash with sha256sum or sha512sum",
	"htpasswd":       "it uses bcrypt, which salts at random, so every sync would create a new version",
	"derivePassword": "it is a password generator; generate passwords in the vault",
	"genPrivateKey":  generatesCrypto, "genCA": generatesCrypto, "genCAWithKey": generatesCrypto, "genSelfSignedCert": generatesCrypto,
	"genSelfSignedCertWithKey": generatesCrypto, "genSignedCert": generatesCrypto, "genSignedCertWithKey": generatesCrypto, "buildCustomCert": generatesCrypto,
	"getSecretKey": readsCluster, "lookup": readsCluster, "getSecret": readsCluster,
	"osBase": dependsOnOS, "osClean": dependsOnOS, "osDir": dependsOnOS, "osExt": dependsOnOS, "osIsAbs": dependsOnOS,
	"call":    "templates cannot call functions held in data",
	"include": "templates cannot include other templates by name; use template", "tpl": "templates cannot render strings from data as templates",
}

// RefusedReason says why a function is not available, or "" when it is not
// one of the known refused functions.
func RefusedReason(name string) string { return refused[name] }

// budgeted are the functions of own that charge b while they build, and
// the ones that mutate maps, which must not make a map contain itself.
func budgeted(b *budget) map[string]any {
	sprigSet := sprigFuncs()["set"].(func(map[string]any, string, any) map[string]any)
	merging := func(name string) func(map[string]any, ...map[string]any) (any, error) {
		fn := sprigFuncs()[name]
		return func(dst map[string]any, srcs ...map[string]any) (any, error) {
			others := make([]any, len(srcs))
			for i, src := range srcs {
				others[i] = src
			}
			if err := refuseCycles(name, dst, others...); err != nil {
				return nil, err
			}
			out := reflect.ValueOf(fn).Call(append([]reflect.Value{reflect.ValueOf(dst)}, reflectValues(srcs)...))
			if len(out) == 2 && !out[1].IsNil() {
				return nil, safeErrorf("%s failed", name)
			}
			return out[0].Interface(), nil
		}
	}
	return map[string]any{
		"set": func(d map[string]any, key string, value any) (map[string]any, error) {
			if err := refuseCycles("set", d, value); err != nil {
				return nil, err
			}
			return sprigSet(d, key, value), nil
		},
		"merge":              merging("merge"),
		"mustMerge":          merging("mustMerge"),
		"mergeOverwrite":     merging("mergeOverwrite"),
		"mustMergeOverwrite": merging("mustMergeOverwrite"),
		"replace":            b.replace,
		"regexReplaceAll":    func(re, s, repl string) (string, error) { return b.regexReplace("regexReplaceAll", re, s, repl, false) },
		"mustRegexReplaceAll": func(re, s, repl string) (string, error) {
			return b.regexReplace("mustRegexReplaceAll", re, s, repl, false)
		},
		"regexReplaceAllLiteral": func(re, s, repl string) (string, error) {
			return b.regexReplace("regexReplaceAllLiteral", re, s, repl, true)
		},
		"mustRegexReplaceAllLiteral": func(re, s, repl string) (string, error) {
			return b.regexReplace("mustRegexReplaceAllLiteral", re, s, repl, true)
		},
	}
}

// own are the functions implemented here rather than taken from sprig:
// sprig's versions return errors as output (b64dec, toJson), iterate maps in
// random order (keys, values), compare in quadratic time (uniq), or do not
// count what they build (replace, regexReplaceAll: see budgeted).
var own = sync.OnceValue(func() map[string]any {
	return map[string]any{
		"b64enc": func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
		"b64dec": decoder("b64dec", "base64", base64.StdEncoding.DecodeString),
		"b32enc": func(s string) string { return base32.StdEncoding.EncodeToString([]byte(s)) },
		"b32dec": decoder("b32dec", "base32", base32.StdEncoding.DecodeString),
		"hexenc": func(s string) string { return hex.EncodeToString([]byte(s)) },
		// urlEscape percent-encodes all but RFC 3986's unreserved characters,
		// for user names and passwords in URLs (postgres://u:{{ .p | urlEscape }}@h):
		// urlquery writes a space as "+", which a URL's userinfo reads as "+".
		"urlEscape": func(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") },
		"hexdec":    decoder("hexdec", "hexadecimal", hex.DecodeString),

		"toJson":           jsonEncoder("toJson", json.Marshal),
		"mustToJson":       jsonEncoder("mustToJson", json.Marshal),
		"toRawJson":        jsonEncoder("toRawJson", marshalRaw),
		"mustToRawJson":    jsonEncoder("mustToRawJson", marshalRaw),
		"toPrettyJson":     jsonEncoder("toPrettyJson", func(v any) ([]byte, error) { return json.MarshalIndent(v, "", "  ") }),
		"mustToPrettyJson": jsonEncoder("mustToPrettyJson", func(v any) ([]byte, error) { return json.MarshalIndent(v, "", "  ") }),
		"fromJson":         jsonDecoder[any]("fromJson", "JSON", json.Unmarshal),
		"mustFromJson":     jsonDecoder[any]("mustFromJson", "JSON", json.Unmarshal),
		"toYaml":           jsonEncoder("toYaml", yaml.Marshal),
		"fromYaml":         jsonDecoder[map[string]any]("fromYaml", "YAML (a mapping)", unmarshalYAML),
		"fromYamlArray":    jsonDecoder[[]any]("fromYamlArray", "YAML (a sequence)", unmarshalYAML),

		"keys":   sortedKeys,
		"values": sortedValues,
		"uniq":   uniq,
		"mustUniq": func(list any) ([]any, error) {
			return uniq(list), nil
		},
		"fail": func(string) (string, error) {
			return "", safeErrorf("fail was called (its message is withheld: it could contain values)")
		},

		"print":    fmt.Sprint,
		"printf":   fmt.Sprintf,
		"println":  fmt.Sprintln,
		"html":     template.HTMLEscaper,
		"js":       template.JSEscaper,
		"urlquery": template.URLQueryEscaper,

		"splitPEM":        splitPEM,
		"filterPEM":       filterPEM,
		"filterCertChain": filterCertChain,
		"certSANs":        certSANs,
		"pkcs12cert":      func(p12 string) (string, error) { return pkcs12Cert("pkcs12cert", p12, "") },
		"pkcs12certPass":  func(pass, p12 string) (string, error) { return pkcs12Cert("pkcs12certPass", p12, pass) },
		"pkcs12key":       func(p12 string) (string, error) { return pkcs12Key("pkcs12key", p12, "") },
		"pkcs12keyPass":   func(pass, p12 string) (string, error) { return pkcs12Key("pkcs12keyPass", p12, pass) },
		"pemToPkcs12":     func(cert, key string) (string, error) { return pemToPkcs12("pemToPkcs12", cert+"\n"+key, "", false) },
		"pemToPkcs12Pass": func(cert, key, pass string) (string, error) {
			return pemToPkcs12("pemToPkcs12Pass", cert+"\n"+key, pass, true)
		},
		"fullPemToPkcs12": func(pemData string) (string, error) { return pemToPkcs12("fullPemToPkcs12", pemData, "", false) },
		"fullPemToPkcs12Pass": func(pemData, pass string) (string, error) {
			return pemToPkcs12("fullPemToPkcs12Pass", pemData, pass, true)
		},
		"jwkPublicKeyPem":  func(jwk string) (string, error) { return jwkToPEM("jwkPublicKeyPem", jwk, false) },
		"jwkPrivateKeyPem": func(jwk string) (string, error) { return jwkToPEM("jwkPrivateKeyPem", jwk, true) },
	}
})

func reflectValues(maps []map[string]any) []reflect.Value {
	out := make([]reflect.Value, len(maps))
	for i, m := range maps {
		out[i] = reflect.ValueOf(m)
	}
	return out
}

// sprigFuncs is sprig's function map, built once: its functions keep no state.
var sprigFuncs = sync.OnceValue(sprig.TxtFuncMap)

// listed is the set of Catalog names.
var listed = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{}
	for _, g := range Catalog {
		for _, name := range g.Functions {
			m[name] = true
		}
	}
	return m
})

// libraryFunc is the allow-listed function name, before metering, taken
// from bound (budgeted's functions of one rendering) when it is there; nil
// when there is none.
func libraryFunc(bound map[string]any, name string) any {
	if !listed()[name] {
		return nil
	}
	if fn, ok := bound[name]; ok {
		return fn
	}
	if fn, ok := own()[name]; ok {
		return fn
	}
	return sprigFuncs()[name]
}

// knownFunctions are the names a template may mention: the Catalog, the
// refused functions (refused with their reason after parsing) and the
// instruments.
var knownFunctions = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{stepFunc: true, rangeFunc: true, printFunc: true}
	maps.Copy(m, listed())
	for name := range refused {
		m[name] = true
	}
	return m
})

var word = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)

// parseFuncs names, for parsing only, the known functions whose names
// appear in text: execution gets the real, metered functions of the names
// the parsed template uses (see funcsFor), so that a render neither copies
// nor wraps two hundred functions.
func parseFuncs(text string) template.FuncMap {
	stub := func(...any) (string, error) { return "", nil }
	m := template.FuncMap{stepFunc: stub, rangeFunc: stub, printFunc: stub}
	for _, w := range word.FindAllString(text, -1) {
		if knownFunctions()[w] {
			m[w] = stub
		}
	}
	return m
}

// funcsFor is the library bound to b for the names a template uses: every
// function costs a step and the length of what it returns, functions that
// can build much more than they are given are refused up front when that
// would pass the budget, and the inserted instruments are added.
func (b *budget) funcsFor(used map[string]bool) template.FuncMap {
	m := template.FuncMap{}
	bound := budgeted(b)
	for name := range used { // refused names never get here: parsing failed on them
		if fn := libraryFunc(bound, name); fn != nil {
			m[name] = b.metered(name, fn)
		}
	}
	m[stepFunc] = func() (string, error) { return "", b.step(0) }
	m[rangeFunc] = b.rangeGuard
	m[printFunc] = b.printGuard
	return m
}

// refusedError names a function templates cannot use and why.
type refusedError struct{ name, reason string }

func (e *refusedError) Error() string {
	return fmt.Sprintf("function %q is not available in vaultferry templates: %s", e.name, e.reason)
}

var errorType = reflect.TypeFor[error]()

// metered wraps fn into a function returning (result, error) that charges
// the budget for every call. A panic inside fn becomes an error that does
// not print the panic value (text/template would print it).
func (b *budget) metered(name string, fn any) any {
	v := reflect.ValueOf(fn)
	t := v.Type()
	in := make([]reflect.Type, t.NumIn())
	for i := range in {
		in[i] = t.In(i)
	}
	estimate := estimators[name]
	wrapped := reflect.FuncOf(in, []reflect.Type{t.Out(0), errorType}, t.IsVariadic())
	return reflect.MakeFunc(wrapped, func(args []reflect.Value) (results []reflect.Value) {
		fail := func(err error) []reflect.Value {
			return []reflect.Value{reflect.Zero(t.Out(0)), reflect.ValueOf(&err).Elem()}
		}
		defer func() {
			if recover() != nil {
				results = fail(safeErrorf("%s failed on a value of an unexpected kind or size", name))
			}
		}()
		if estimate != nil {
			if err := b.reserve(name, estimate(flatten(args, t.IsVariadic()), b.remaining())); err != nil {
				return fail(err)
			}
		}
		var out []reflect.Value
		if t.IsVariadic() {
			out = v.CallSlice(args)
		} else {
			out = v.Call(args)
		}
		if len(out) == 2 && !out[1].IsNil() {
			return fail(out[1].Interface().(error))
		}
		if err := b.step(sizeOfResult(out[0])); err != nil {
			return fail(err)
		}
		return []reflect.Value{out[0], reflect.Zero(errorType)}
	}).Interface()
}

// sizeOfResult is what a function's result costs: its bytes for a string,
// a word per element for a list or map, so that values doubled in a loop
// run out of budget.
func sizeOfResult(v reflect.Value) int {
	if v.Kind() == reflect.Interface {
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.String:
		return v.Len()
	case reflect.Slice, reflect.Map, reflect.Array:
		return 8 * v.Len()
	}
	return 0
}

// flatten turns the reflect arguments of a call into values, expanding the
// variadic tail.
func flatten(args []reflect.Value, variadic bool) []any {
	out := make([]any, 0, len(args))
	for i, a := range args {
		if variadic && i == len(args)-1 {
			for j := range a.Len() {
				out = append(out, a.Index(j).Interface())
			}
			continue
		}
		out = append(out, a.Interface())
	}
	return out
}

// safeError is an error whose message was written to contain no data.
type safeError struct{ msg string }

func (e *safeError) Error() string { return e.msg }

// safeErrorf formats a safeError; args must never be derived from values.
func safeErrorf(format string, args ...any) error {
	return &safeError{msg: fmt.Sprintf(format, args...)}
}

func decoder(name, encoding string, decode func(string) ([]byte, error)) func(string) (string, error) {
	return func(s string) (string, error) {
		b, err := decode(s)
		if err != nil {
			return "", safeErrorf("%s: input is not valid %s", name, encoding)
		}
		return string(b), nil
	}
}

func jsonEncoder(name string, marshal func(any) ([]byte, error)) func(any) (string, error) {
	return func(v any) (string, error) {
		b, err := marshal(v)
		if err != nil {
			return "", safeErrorf("%s: a value of kind %s cannot be encoded", name, kindOf(v))
		}
		return string(b), nil
	}
}

func jsonDecoder[T any](name, format string, unmarshal func([]byte, any) error) func(string) (T, error) {
	return func(s string) (T, error) {
		var v T
		if err := unmarshal([]byte(s), &v); err != nil {
			return v, safeErrorf("%s: input is not valid %s", name, format)
		}
		return v, nil
	}
}

func unmarshalYAML(b []byte, v any) error { return yaml.Unmarshal(b, v) }

// marshalRaw is JSON without HTML escaping, as sprig's toRawJson.
func marshalRaw(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// sortedKeys are the keys of the dicts in order (sprig's come in random order).
func sortedKeys(dicts ...map[string]any) []string {
	var keys []string
	for _, d := range dicts {
		keys = append(keys, slices.Collect(maps.Keys(d))...)
	}
	slices.Sort(keys)
	return keys
}

// sortedValues are the values of dict in the order of their keys.
func sortedValues(dict map[string]any) []any {
	out := make([]any, 0, len(dict))
	for _, k := range slices.Sorted(maps.Keys(dict)) {
		out = append(out, dict[k])
	}
	return out
}

// maxUncomparableUniq bounds uniq over lists and maps, which compares
// each pair (strings, numbers and booleans are compared through a set).
const maxUncomparableUniq = 2000

// uniq is sprig's uniq without quadratic time on simple values.
func uniq(list any) []any {
	l := reflect.ValueOf(list)
	if l.Kind() != reflect.Slice && l.Kind() != reflect.Array {
		panic("uniq needs a list")
	}
	seen := map[any]bool{}
	var others, out []any
	for i := range l.Len() {
		item := l.Index(i).Interface()
		if item == nil || reflect.TypeOf(item).Comparable() {
			if !seen[item] {
				seen[item] = true
				out = append(out, item)
			}
			continue
		}
		if slices.ContainsFunc(others, func(o any) bool { return reflect.DeepEqual(o, item) }) {
			continue
		}
		if len(others) == maxUncomparableUniq {
			panic("too many lists or maps")
		}
		others = append(others, item)
		out = append(out, item)
	}
	return out
}
