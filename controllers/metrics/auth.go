package metrics

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authenticationclient "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationclient "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// decisionTTL is how long a token's answer is reused: Prometheus scrapes
// every 15–60 s, and two API requests per scrape would be most of what an
// idle operator asks of the API server.
const decisionTTL = time.Minute

// WithTokenReviewAuth is a metrics server FilterProvider: a request needs a
// bearer token that a TokenReview accepts, whose user a SubjectAccessReview
// allows the request's verb on its (non-resource) path. It does what
// controller-runtime's filters.WithAuthenticationAndAuthorization does,
// without the Kubernetes API server libraries it builds on: those doubled
// the binary and a third of the operator's resident memory was their code.
func WithTokenReviewAuth(cfg *rest.Config, httpClient *http.Client) (metricsserver.Filter, error) {
	authn, err := authenticationclient.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("creating the TokenReview client: %w", err)
	}
	authz, err := authorizationclient.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("creating the SubjectAccessReview client: %w", err)
	}
	a := &tokenAuth{tokens: authn.TokenReviews(), access: authz.SubjectAccessReviews(), decisions: map[decisionKey]decision{}, now: time.Now}
	return func(log logr.Logger, next http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			status, err := a.check(req)
			switch {
			case err != nil:
				log.Error(err, "Authorizing a metrics request")
				http.Error(w, "authorization failed", status)
			case status != http.StatusOK:
				http.Error(w, http.StatusText(status), status)
			default:
				next.ServeHTTP(w, req)
			}
		}), nil
	}, nil
}

// tokenAuth answers who may read the metrics, remembering answers for decisionTTL.
type tokenAuth struct {
	tokens interface {
		Create(context.Context, *authenticationv1.TokenReview, metav1.CreateOptions) (*authenticationv1.TokenReview, error)
	}
	access interface {
		Create(context.Context, *authorizationv1.SubjectAccessReview, metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error)
	}
	now func() time.Time

	mu        sync.Mutex
	decisions map[decisionKey]decision
}

// decisionKey is a token (by hash: the map never holds a credential), verb and path.
type decisionKey struct {
	token      [sha256.Size]byte
	verb, path string
}

type decision struct {
	status  int
	expires time.Time
}

// check returns 200, 401 (no or unknown token) or 403 (not allowed); an
// error (with 500) when the API server could not say.
func (a *tokenAuth) check(req *http.Request) (int, error) {
	token, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(token) == "" {
		return http.StatusUnauthorized, nil
	}
	key := decisionKey{token: sha256.Sum256([]byte(token)), verb: strings.ToLower(req.Method), path: req.URL.Path}
	if status, ok := a.remembered(key); ok {
		return status, nil
	}
	status, err := a.decide(req.Context(), token, key)
	if err != nil {
		return http.StatusInternalServerError, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, d := range a.decisions { // few scrapers: sweeping on write keeps the map small
		if !a.now().Before(d.expires) {
			delete(a.decisions, k)
		}
	}
	a.decisions[key] = decision{status: status, expires: a.now().Add(decisionTTL)}
	return status, nil
}

func (a *tokenAuth) remembered(key decisionKey) (int, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	d, ok := a.decisions[key]
	if !ok || !a.now().Before(d.expires) {
		return 0, false
	}
	return d.status, true
}

func (a *tokenAuth) decide(ctx context.Context, token string, key decisionKey) (int, error) {
	review, err := a.tokens.Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		return 0, fmt.Errorf("reviewing the token: %w", err)
	}
	if !review.Status.Authenticated {
		return http.StatusUnauthorized, nil
	}
	user := review.Status.User
	extra := map[string]authorizationv1.ExtraValue{}
	for k, v := range user.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	sar, err := a.access.Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user.Username, UID: user.UID, Groups: user.Groups, Extra: extra,
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: key.path, Verb: key.verb},
	}}, metav1.CreateOptions{})
	if err != nil {
		return 0, fmt.Errorf("reviewing access of %s: %w", user.Username, err)
	}
	if !sar.Status.Allowed {
		return http.StatusForbidden, nil
	}
	return http.StatusOK, nil
}
