package externalsecret

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/internal/render"
	"github.com/vaultferry/vaultferry/controllers/internal/requeue"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/paths"
)

// defaultMaxKeys is find.maxKeys for ExternalSecrets stored without it.
const defaultMaxKeys = 100

// findRequest turns a find into a provider request whose Keep admits a
// listed key only when it is clean, is read by the backend exactly as
// listed, is in the namespace's allowedKeys and matches find.name: the
// tenancy check of a single key, applied before anything is read.
func (s *resolvedStore) findRequest(find *vfv1alpha1.ExternalSecretFind, tenant string) (providers.FindRequest, error) {
	req := providers.FindRequest{Tags: find.Tags, MaxKeys: int(find.MaxKeys), Tenant: tenant}
	if req.MaxKeys <= 0 {
		req.MaxKeys = defaultMaxKeys
	}
	if find.Path != nil {
		req.Path = *find.Path
		if !paths.CleanKey(strings.TrimSuffix(req.Path, "/")) {
			return req, requeue.New(requeue.Stall, vfv1alpha1.InvalidSpecReason,
				fmt.Errorf("find.path %q is not a clean path: remove '..', '.', empty segments, '%%' escapes, backslashes and control characters", req.Path))
		}
	}
	var name *regexp.Regexp
	if find.Name != nil {
		var err error
		if name, err = regexp.Compile(find.Name.RegExp); err != nil {
			return req, requeue.New(requeue.Stall, vfv1alpha1.InvalidSpecReason, fmt.Errorf("find.name.regexp does not compile: %w", err))
		}
	}
	req.Descend = func(folder string) bool { return s.allowedKeys.MayContain(folder, s.provider.KeysFoldCase()) }
	req.Keep = func(key string) bool {
		if !paths.CleanKey(key) || (name != nil && !name.MatchString(key)) {
			return false
		}
		ref, err := s.provider.NormalizeRef(providers.Ref{Key: key})
		return err == nil && ref.Key == key && s.allowedKeys.Allows(key, s.provider.KeysFoldCase())
	}
	return req, nil
}

// invalidKeyChar is what the Default conversion replaces in a found key.
var invalidKeyChar = regexp.MustCompile(`[^-._a-zA-Z0-9]`)

// rewriteLimits bound the transform templates of one dataFrom entry, all
// keys together: a rewrite renames keys, it never builds much.
var rewriteLimits = render.Limits{MaxSteps: 10_000, MaxOutputBytes: 1024, MaxProducedBytes: 64 << 10, Timeout: time.Second}

// renameKeys applies a dataFrom entry's rewrite steps to the keys it
// produced (or, for a find without rewrite, the Default conversion) and
// checks the result: every key a valid Secret key, no two remote keys on
// the same Secret key. origin maps a key to the remote key it came from,
// for errors. It does no I/O.
func renameKeys(ctx context.Context, values map[string][]byte, steps []vfv1alpha1.ExternalSecretRewrite, convert bool, origin func(string) string) (map[string][]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, rewriteLimits.Timeout)
	defer cancel()
	out := make(map[string][]byte, len(values))
	from := make(map[string]string, len(values))
	for _, key := range slices.Sorted(maps.Keys(values)) {
		renamed, err := renameKey(ctx, key, steps, convert)
		if err != nil {
			return nil, err
		}
		if errs := validation.IsConfigMapKey(renamed); len(errs) > 0 {
			return nil, requeue.New(requeue.Stall, vfv1alpha1.InvalidDataReason,
				fmt.Errorf("%s becomes Secret key %q, which is not valid (%s): add or fix a dataFrom.rewrite step", origin(key), renamed, errs[0]))
		}
		if earlier, taken := from[renamed]; taken {
			return nil, requeue.New(requeue.Stall, vfv1alpha1.InvalidDataReason,
				fmt.Errorf("%s and %s both become Secret key %q: make the dataFrom.rewrite steps keep them apart", earlier, origin(key), renamed))
		}
		from[renamed] = origin(key)
		out[renamed] = values[key]
	}
	return out, nil
}

func renameKey(ctx context.Context, key string, steps []vfv1alpha1.ExternalSecretRewrite, convert bool) (string, error) {
	if len(steps) == 0 && convert {
		return invalidKeyChar.ReplaceAllString(key, "_"), nil
	}
	for i, step := range steps {
		switch {
		case step.Regexp != nil:
			re, err := regexp.Compile(step.Regexp.Source)
			if err != nil {
				return "", requeue.New(requeue.Stall, vfv1alpha1.InvalidSpecReason, fmt.Errorf("dataFrom.rewrite[%d].regexp.source does not compile: %w", i, err))
			}
			key = re.ReplaceAllString(key, step.Regexp.Target)
		case step.Transform != nil:
			name := fmt.Sprintf("rewrite[%d].transform", i)
			out, err := render.Render(ctx, map[string]string{name: step.Transform.Template}, map[string]any{"value": key}, rewriteLimits)
			if err != nil {
				return "", requeue.New(requeue.Stall, vfv1alpha1.InvalidSpecReason, fmt.Errorf("dataFrom.%w", err))
			}
			key = string(out[name])
		}
	}
	return key, nil
}
