// Package convert turns External Secrets Operator manifests
// (external-secrets.io/v1 and v1beta1) into vaultferry manifests. It edits
// the YAML tree, so comments and key order survive, and it never drops
// silently: every kind, field or value without a vaultferry equivalent is
// reported as a Problem with the file, document and field path, and every
// conversion that changes behaviour is reported as a Note.
package convert

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
)

// Options change how manifests are converted.
type Options struct {
	// Mutable keeps External Secrets Operator's single mutable Secret per
	// ExternalSecret (target.immutable: false) where the manifest does not
	// say; by default vaultferry writes immutable versions.
	Mutable bool
}

// Problem is something that could not be converted: it is left out of the output.
type Problem struct {
	File, Object, Path, Message string
	Document                    int
}

func (p Problem) String() string {
	where := fmt.Sprintf("%s: document %d", p.File, p.Document)
	if p.Object != "" {
		where += " (" + p.Object + ")"
	}
	if p.Path != "" {
		where += ": " + p.Path
	}
	return where + ": " + p.Message
}

// Note is a conversion that changes behaviour, for the summary.
type Note struct {
	// Change names the kind of change; notes with the same Change are listed together.
	Change string
	// Object is the converted object, "<Kind> <namespace>/<name>".
	Object string
}

// Result is the conversion of one input.
type Result struct {
	// Documents are the converted documents, in input order.
	Documents []*yaml.Node
	Problems  []Problem
	Notes     []Note
	// Converted counts converted objects by kind; PassedThrough counts
	// documents that are not External Secrets Operator objects, copied as they are.
	Converted     map[string]int
	PassedThrough int
}

// esoGroup is External Secrets Operator's API group.
const esoGroup = "external-secrets.io"

// Bounds on what one input may make the converter do: it runs in CI over
// whole repositories and on whatever `kubectl get -o yaml` prints, so a
// small hostile document must not grow into gigabytes or recurse forever.
const (
	// MaxInputBytes bounds one input file or stdin.
	MaxInputBytes = 32 << 20
	// MaxDepth bounds the nesting of one document, aliases expanded.
	MaxDepth = 100
	// aliasBudgetFactor: expanding aliases may add at most this many nodes
	// per node of the document (plus aliasBudgetBase), as a YAML parser's
	// alias ratio limit does.
	aliasBudgetFactor = 4
	aliasBudgetBase   = 10_000
)

// Convert converts every document of one input (file names the input in problems).
func Convert(file string, in io.Reader, opts Options) (*Result, error) {
	res := &Result{Converted: map[string]int{}}
	data, err := io.ReadAll(io.LimitReader(in, MaxInputBytes+1))
	if err != nil {
		return res, fmt.Errorf("%s: %w", file, err)
	}
	if len(data) > MaxInputBytes {
		return res, fmt.Errorf("%s: larger than %d MiB: split it into smaller files", file, MaxInputBytes>>20)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for n := 1; ; n++ {
		var root yaml.Node
		err := dec.Decode(&root)
		if errors.Is(err, io.EOF) {
			return res, nil
		}
		if err != nil {
			return res, fmt.Errorf("%s: document %d: %w", file, n, err)
		}
		if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
			continue // an empty document
		}
		if isList(root.Content[0]) {
			convertList(file, n, root.Content[0], opts, res)
			res.Documents = append(res.Documents, &root)
			continue
		}
		if convertObject(&document{file: file, index: n, obj: root.Content[0], opts: opts, res: res}) {
			res.Documents = append(res.Documents, &root)
		}
	}
}

// document is one YAML document being converted.
type document struct {
	file  string
	index int
	obj   *yaml.Node
	opts  Options
	res   *Result
	id    string
	// prefix is the path of the object in its document ("items[3]." in a List).
	prefix string
}

func (d *document) refuse(path, format string, args ...any) {
	if path != "" {
		path = d.prefix + path
	}
	d.res.Problems = append(d.res.Problems, Problem{File: d.file, Document: d.index, Object: d.id, Path: path, Message: fmt.Sprintf(format, args...)})
}

func (d *document) note(change string) {
	d.res.Notes = append(d.res.Notes, Note{Change: change, Object: d.id})
}

// convert converts d in place and reports whether it goes to the output.
func (d *document) convert() bool {
	group, version, _ := strings.Cut(str(d.obj, "apiVersion"), "/")
	kind := str(d.obj, "kind")
	if group != esoGroup && !strings.HasSuffix(group, "."+esoGroup) {
		d.res.PassedThrough++
		return true
	}
	d.id = kind + " " + strings.TrimPrefix(str(at(d.obj, "metadata"), "namespace")+"/"+str(at(d.obj, "metadata"), "name"), "/")
	if group != esoGroup || (version != "v1" && version != "v1beta1") {
		d.refuse("", "%s/%s %s has no equivalent in vaultferry (%s)", group, version, kind, unsupportedKinds[kind])
		return false
	}
	if err := expandAliases(d.obj); err != nil {
		d.refuse("", "%v", err)
		return false
	}
	spec := get(d.obj, "spec")
	if spec == nil || spec.Kind != yaml.MappingNode {
		d.refuse("spec", "missing")
		return false
	}
	var specType reflect.Type
	switch kind {
	case "ExternalSecret":
		d.externalSecret(spec, "spec")
		specType = reflect.TypeFor[vfv1alpha1.ExternalSecretSpec]()
	case "SecretStore", "ClusterSecretStore":
		if !d.store(spec) {
			return false
		}
		specType = reflect.TypeFor[vfv1alpha1.SecretStoreSpec]()
	case "ClusterExternalSecret":
		d.clusterExternalSecret(spec)
		specType = reflect.TypeFor[vfv1alpha1.ClusterExternalSecretSpec]()
	default:
		why := unsupportedKinds[kind]
		if why == "" {
			why = "not a kind vaultferry knows"
		}
		d.refuse("", "kind %s has no equivalent in vaultferry (%s)", kind, why)
		return false
	}
	set(d.obj, "apiVersion", scalar(vfv1alpha1.GroupVersion.String()))
	d.cleanMetadata()
	del(d.obj, "status")
	d.walk(spec, specType, "spec")
	d.res.Converted[kind]++
	return true
}

// convertObject converts d and marks what it left out; false drops it.
func convertObject(d *document) bool {
	before := len(d.res.Problems)
	if !d.convert() {
		return false
	}
	markLeftOut(d.obj, d.res.Problems[before:])
	return true
}

// isList reports a kubectl List (kubectl get -o yaml of several objects).
func isList(obj *yaml.Node) bool {
	return str(obj, "apiVersion") == "v1" && strings.HasSuffix(str(obj, "kind"), "List") && get(obj, "items") != nil
}

// convertList converts the items of a List in place, dropping those refused.
func convertList(file string, n int, list *yaml.Node, opts Options, res *Result) {
	items := get(list, "items")
	if items.Kind != yaml.SequenceNode {
		return
	}
	kept := items.Content[:0]
	for i, item := range items.Content {
		if item.Kind != yaml.MappingNode {
			continue
		}
		d := &document{file: file, index: n, obj: item, opts: opts, res: res, prefix: fmt.Sprintf("items[%d].", i)}
		if convertObject(d) {
			kept = append(kept, item)
		}
	}
	items.Content = kept
	set(list, "kind", scalar("List"))
}

// markLeftOut puts the fields left out of a converted document in a comment
// above it, so that whoever reads the output sees them where they were.
func markLeftOut(obj *yaml.Node, problems []Problem) {
	if len(problems) == 0 {
		return
	}
	lines := []string{"vaultferry convert left out (no equivalent):"}
	for _, p := range problems {
		lines = append(lines, "  "+p.Path+": "+p.Message)
	}
	comment := "# " + strings.Join(lines, "\n# ")
	if obj.HeadComment != "" {
		comment = obj.HeadComment + "\n" + comment
	}
	obj.HeadComment = comment
}

// unsupportedKinds explain the External Secrets Operator kinds with no equivalent.
var unsupportedKinds = map[string]string{
	"PushSecret":              "vaultferry only reads from vaults; it never writes to them",
	"ClusterPushSecret":       "vaultferry only reads from vaults; it never writes to them",
	"ExternalSecretGenerator": "generators are not supported",
	"ClusterGenerator":        "generators are not supported",
	"GeneratorState":          "generators are not supported",
	"Password":                "generators are not supported",
	"ECRAuthorizationToken":   "generators are not supported",
	"GCRAccessToken":          "generators are not supported",
	"ACRAccessToken":          "generators are not supported",
	"VaultDynamicSecret":      "generators are not supported",
	"Webhook":                 "generators are not supported",
	"Fake":                    "generators are not supported",
	"UUID":                    "generators are not supported",
	"STSSessionToken":         "generators are not supported",
	"GithubAccessToken":       "generators are not supported",
	"QuayAccessToken":         "generators are not supported",
	"SSHKey":                  "generators are not supported",
	"Grafana":                 "generators are not supported",
	"MFA":                     "generators are not supported",
}

// serverFields are metadata the API server sets: dropped, they are not configuration.
var serverFields = []string{"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds"}

func (d *document) cleanMetadata() {
	meta := get(d.obj, "metadata")
	for _, f := range serverFields {
		del(meta, f)
	}
	annotations := get(meta, "annotations")
	del(annotations, "kubectl.kubernetes.io/last-applied-configuration")
	if annotations != nil && len(annotations.Content) == 0 {
		del(meta, "annotations")
	}
	if finalizers := get(meta, "finalizers"); finalizers != nil {
		del(meta, "finalizers")
		d.refuse("metadata.finalizers", "External Secrets Operator finalizers are not carried over (vaultferry adds its own)")
	}
}

// walk removes and reports every field of n that typ (the vaultferry Go
// type, by its json names) does not have: whatever the rules above did not
// convert has no equivalent.
func (d *document) walk(n *yaml.Node, typ reflect.Type, path string) {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if n == nil || isScalarType(typ) {
		return
	}
	switch typ.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // the API server's schema validation speaks to types
		}
		fields := jsonFields(typ)
		kept := n.Content[:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, value := n.Content[i], n.Content[i+1]
			field, ok := fields[key.Value]
			if !ok {
				d.refuse(path+"."+key.Value, "no equivalent in vaultferry%s", hint(key.Value))
				continue
			}
			d.walk(value, field, path+"."+key.Value)
			kept = append(kept, key, value)
		}
		n.Content = kept
	case reflect.Slice:
		if n.Kind == yaml.SequenceNode {
			for i, item := range n.Content {
				d.walk(item, typ.Elem(), fmt.Sprintf("%s[%d]", path, i))
			}
		}
	case reflect.Map:
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				d.walk(n.Content[i+1], typ.Elem(), path+"."+n.Content[i].Value)
			}
		}
	}
}

// expandAliases replaces every alias below n with a copy of what it stands
// for, so that the rules and the field check see it where it is used, and
// removing a field there does not remove it at the anchor. An alias that
// contains itself, nesting deeper than MaxDepth, or an expansion larger
// than a budget proportional to the document (aliases of aliases grow
// exponentially: nine levels of nine fit in a kilobyte) is an error.
func expandAliases(n *yaml.Node) error {
	e := &expansion{budget: aliasBudgetBase + aliasBudgetFactor*countNodes(n, 0), active: map[*yaml.Node]bool{}}
	return e.expand(n, 0)
}

// expansion is one document's alias expansion.
type expansion struct {
	budget int
	// active are the nodes being copied: an alias to one of them is a cycle.
	active map[*yaml.Node]bool
}

var (
	errAliasCycle  = errors.New("a YAML alias refers to a node that contains it (an endless document): remove the alias")
	errAliasBudget = errors.New("YAML aliases expand to far more than the document holds (an alias bomb?): write the values out or use fewer nested aliases")
	errTooDeep     = fmt.Errorf("the document is nested deeper than %d levels", MaxDepth)
)

func (e *expansion) expand(n *yaml.Node, depth int) error {
	if depth > MaxDepth {
		return errTooDeep
	}
	e.active[n] = true
	defer delete(e.active, n)
	for i, child := range n.Content {
		if child.Kind == yaml.AliasNode {
			c, err := e.copy(child, depth+1)
			if err != nil {
				return err
			}
			c.Anchor = ""
			n.Content[i] = c
			continue
		}
		if err := e.expand(child, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// copy deep-copies a node, resolving nested aliases, within the budget.
func (e *expansion) copy(n *yaml.Node, depth int) (*yaml.Node, error) {
	for n.Kind == yaml.AliasNode {
		if n.Alias == nil || e.active[n.Alias] {
			return nil, errAliasCycle
		}
		n = n.Alias
	}
	if e.budget--; e.budget < 0 {
		return nil, errAliasBudget
	}
	if depth > MaxDepth {
		return nil, errTooDeep
	}
	e.active[n] = true
	defer delete(e.active, n)
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, child := range n.Content {
		var err error
		if c.Content[i], err = e.copy(child, depth+1); err != nil {
			return nil, err
		}
	}
	return &c, nil
}

// countNodes counts the nodes of a document as written (aliases not
// followed), up to MaxDepth.
func countNodes(n *yaml.Node, depth int) int {
	count := 1
	if depth > MaxDepth {
		return count
	}
	for _, child := range n.Content {
		count += countNodes(child, depth+1)
	}
	return count
}

// isScalarType reports the types written as one YAML scalar.
func isScalarType(t reflect.Type) bool {
	switch t {
	case reflect.TypeFor[metav1.Duration](), reflect.TypeFor[metav1.Time]():
		return true
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return false
	case reflect.Slice:
		return t.Elem().Kind() == reflect.Uint8
	}
	return true
}

// jsonFields maps the JSON names of t's fields, inlined ones included, to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-":
		case name == "" && (opts == "inline" || f.Anonymous):
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
		case name != "":
			out[name] = f.Type
		}
	}
	return out
}

// hints explain why common External Secrets Operator fields have no equivalent.
var hints = map[string]string{
	"sourceRef":           "generators and per-entry stores are not supported: use one ExternalSecret per store",
	"retrySettings":       "vaultferry retries with its own jittered backoff",
	"controller":          "there are no controller classes: shard tenants with --watch-namespaces or --watch-label-selector",
	"metadataPolicy":      "remote metadata is not fetched",
	"readYourWrites":      "vaultferry only reads",
	"forwardInconsistent": "vaultferry only reads",
	"additionalRoles":     "chain roles in the role's trust policy instead",
	"sessionTags":         "session tags are not supported",
	"externalID":          "external ids are not supported",
	"prefix":              "write the full key in each remoteRef",
	"valueMap":            "write the value as JSON in value",
}

func hint(field string) string {
	if h := hints[field]; h != "" {
		return ": " + h
	}
	return ""
}

// render writes documents as a YAML stream.
func render(w io.Writer, docs []*yaml.Node) error {
	for i, doc := range docs {
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		var b bytes.Buffer
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(2)
		if err := enc.Encode(doc); err != nil {
			return err
		}
		if err := enc.Close(); err != nil {
			return err
		}
		if _, err := w.Write(b.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// seconds turns External Secrets Operator's store refreshInterval (an
// integer of seconds) into a duration.
func seconds(v string) (string, bool) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return "", false
	}
	return strconv.Itoa(n) + "s", true
}
