package convert

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/term"
)

// Exit codes of Main.
const (
	ExitOK      = 0
	ExitPartial = 1 // something had no equivalent (and --allow-partial was not given)
	ExitUsage   = 2 // bad flags, unreadable or unparsable input
)

// Main runs `vaultferry convert [flags] [file|dir|-]...`: it converts the
// inputs (stdin without arguments or with "-"; directories recursively,
// their .yaml and .yml files) and writes vaultferry YAML to stdout, the
// problems and a summary to stderr.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("convert", flag.ContinueOnError)
	flags.SetOutput(stderr)
	allowPartial := flags.Bool("allow-partial", false, "exit 0 even when some kinds or fields had no equivalent (they are still reported and left out)")
	var opts Options
	flags.BoolVar(&opts.Mutable, "mutable", false, "keep External Secrets Operator's one mutable Secret per ExternalSecret (target.immutable: false) where a manifest does not say")
	flags.Usage = func() {
		fmt.Fprintln(stderr, "Usage: vaultferry convert [--allow-partial] [--mutable] [FILE|DIR|-]...")
		fmt.Fprintln(stderr, "Converts External Secrets Operator manifests (external-secrets.io/v1, v1beta1) to vaultferry manifests on stdout.")
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	inputs := flags.Args()
	if len(inputs) == 0 {
		if f, ok := stdin.(*os.File); ok && isTerminal(f) {
			flags.Usage() // nothing piped in: say how to use it rather than wait
			return ExitUsage
		}
		inputs = []string{"-"}
	}
	files, err := expand(inputs)
	if err != nil {
		fmt.Fprintln(stderr, "vaultferry convert:", err)
		return ExitUsage
	}

	total := &Result{Converted: map[string]int{}}
	for _, file := range files {
		res, err := convertFile(file, stdin, opts)
		if err != nil {
			fmt.Fprintln(stderr, "vaultferry convert:", err)
			return ExitUsage
		}
		total.Documents = append(total.Documents, res.Documents...)
		total.Problems = append(total.Problems, res.Problems...)
		total.Notes = append(total.Notes, res.Notes...)
		total.PassedThrough += res.PassedThrough
		for k, v := range res.Converted {
			total.Converted[k] += v
		}
	}
	if err := render(stdout, total.Documents); err != nil {
		fmt.Fprintln(stderr, "vaultferry convert: writing the output:", err)
		return ExitUsage
	}
	for _, p := range total.Problems {
		fmt.Fprintln(stderr, "not converted:", p)
	}
	summarize(stderr, total)
	if len(total.Problems) > 0 && !*allowPartial {
		fmt.Fprintf(stderr, "%d things had no equivalent and were left out (listed above): exit code %d; --allow-partial exits 0\n", len(total.Problems), ExitPartial)
		return ExitPartial
	}
	return ExitOK
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

func convertFile(file string, stdin io.Reader, opts Options) (*Result, error) {
	if file == "-" {
		return Convert("<stdin>", stdin, opts)
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Convert(file, f, opts)
}

// expand lists the files of the inputs: directories recursively, their
// .yaml and .yml files in lexical order.
func expand(inputs []string) ([]string, error) {
	var files []string
	for _, in := range inputs {
		if in == "-" {
			files = append(files, in)
			continue
		}
		info, err := os.Stat(in)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			files = append(files, in)
			continue
		}
		err = filepath.WalkDir(in, func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !e.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if len(files) == 0 {
		return nil, errors.New("no .yaml or .yml files in the inputs")
	}
	return files, nil
}

// summarize writes what was converted and every behaviour change, once each.
func summarize(w io.Writer, res *Result) {
	var parts []string
	for _, kind := range slices.Sorted(maps.Keys(res.Converted)) {
		parts = append(parts, fmt.Sprintf("%d %s", res.Converted[kind], kind))
	}
	fmt.Fprintf(w, "Converted: %s", strings.Join(parts, ", "))
	if len(parts) == 0 {
		fmt.Fprint(w, "nothing")
	}
	if res.PassedThrough > 0 {
		fmt.Fprintf(w, "; other documents copied unchanged: %d", res.PassedThrough)
	}
	fmt.Fprintln(w)
	byChange := map[string][]string{}
	var order []string
	for _, n := range res.Notes {
		if _, seen := byChange[n.Change]; !seen {
			order = append(order, n.Change)
		}
		if !slices.Contains(byChange[n.Change], n.Object) {
			byChange[n.Change] = append(byChange[n.Change], n.Object)
		}
	}
	if len(order) == 0 {
		return
	}
	fmt.Fprintln(w, "Behaviour changes to review:")
	for _, change := range order {
		fmt.Fprintf(w, "  - %s\n    in: %s\n", change, strings.Join(byChange[change], ", "))
	}
}
