package awssm_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/awssm"
	"github.com/vaultferry/vaultferry/providers/providertest"
	"github.com/vaultferry/vaultferry/test/awsfake"
)

const (
	accessKeyID     = "AKIAVAULTFERRYTEST1"
	secretAccessKey = "fake-secret-access-key"
)

// harness serves one fake Secrets Manager and stores whose credentials it accepts or refuses.
func harness(t *testing.T) (*awsfake.Server, func(secretKey string) func(*testing.T) (vfv1alpha1.GenericStore, providers.Kube, string)) {
	fake := awsfake.New(accessKeyID, secretAccessKey)
	t.Cleanup(fake.Close)
	store := func(secretKey string) func(*testing.T) (vfv1alpha1.GenericStore, providers.Kube, string) {
		return func(*testing.T) (vfv1alpha1.GenericStore, providers.Kube, string) {
			creds := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "aws"},
				Data: map[string][]byte{"id": []byte(accessKeyID), "secret": []byte(secretKey)}}
			kube := providertest.Kube(creds)
			s := &vfv1alpha1.SecretStore{
				ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "aws"},
				Spec: vfv1alpha1.SecretStoreSpec{Provider: vfv1alpha1.SecretStoreProvider{AWS: &vfv1alpha1.AWSProvider{
					Region: fake.Region, Endpoint: fake.URL,
					Auth: &vfv1alpha1.AWSAuth{SecretRef: &vfv1alpha1.AWSSecretRef{
						AccessKeyIDSecretRef:     vfv1alpha1.SecretKeySelector{Name: "aws", Key: "id"},
						SecretAccessKeySecretRef: vfv1alpha1.SecretKeySelector{Name: "aws", Key: "secret"},
					}},
				}}},
			}
			return s, kube, "team"
		}
	}
	return fake, store
}

func TestConformance(t *testing.T) {
	fake, store := harness(t)
	providertest.Run(t, providertest.Harness{
		Provider:       awssm.New(awssm.WithHTTPClient(fake.Client())),
		Seed:           func(_ *testing.T, key string, value []byte) string { return fake.Put(key, string(value)) },
		Tag:            func(_ *testing.T, key string, tags map[string]string) { fake.Tag(key, tags) },
		Store:          store(secretAccessKey),
		BadCredentials: store("wrong-secret"),
	})
}

func TestVersionsStagesBinaryAndErrors(t *testing.T) {
	ctx := context.Background()
	fake, store := harness(t)
	first := fake.Put("app/db", `{"password":"one"}`)
	second := fake.Put("app/db", `{"password":"two"}`)
	fake.PutBinary("app/cert", []byte{0, 1, 2, 255})
	rotates := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	fake.SetNextRotation("app/db", rotates)
	s, kube, ns := store(secretAccessKey)(t)
	c, err := awssm.New(awssm.WithHTTPClient(fake.Client())).NewClient(ctx, s, kube, ns)
	if err != nil {
		t.Fatal(err)
	}
	reads := map[string]struct {
		ref         providers.Ref
		value       string
		version     string
		wantExpires bool
	}{
		"latest":            {providers.Ref{Key: "app/db"}, `{"password":"two"}`, second, true},
		"AWSPREVIOUS stage": {providers.Ref{Key: "app/db", Version: "AWSPREVIOUS"}, `{"password":"one"}`, first, true},
		"bare version id":   {providers.Ref{Key: "app/db", Version: first}, `{"password":"one"}`, first, true},
		"uuid: prefixed id": {providers.Ref{Key: "app/db", Version: "uuid:" + second}, `{"password":"two"}`, second, true},
		"by ARN":            {providers.Ref{Key: fake.ARN("app/db")}, `{"password":"two"}`, second, true},
		"SecretBinary":      {providers.Ref{Key: "app/cert"}, "\x00\x01\x02\xff", "", false},
	}
	for name, tc := range reads {
		t.Run(name, func(t *testing.T) {
			got, err := c.GetSecret(ctx, tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			if string(got.Value) != tc.value || (tc.version != "" && got.Version != tc.version) {
				t.Errorf("got %q at %q, want %q at %q", got.Value, got.Version, tc.value, tc.version)
			}
			if tc.wantExpires != (got.ExpiresAt != nil && got.ExpiresAt.Equal(rotates)) {
				t.Errorf("ExpiresAt = %v, want next rotation %v: %v", got.ExpiresAt, rotates, tc.wantExpires)
			}
		})
	}
	if fake.LastCaller() != accessKeyID {
		t.Errorf("requests were signed by %q", fake.LastCaller())
	}

	errorCases := map[string]struct {
		code   string
		status int
		class  error
	}{
		"ResourceNotFoundException": {"ResourceNotFoundException", 400, providers.ErrNotFound},
		"AccessDeniedException":     {"AccessDeniedException", 400, providers.ErrForbidden},
		"ThrottlingException":       {"ThrottlingException", 400, providers.ErrThrottled},
		"HTTP 429":                  {"TooManyRequests", 429, providers.ErrThrottled},
		"DecryptionFailure":         {"DecryptionFailure", 400, providers.ErrUnavailable},
		"InternalServiceError":      {"InternalServiceError", 500, providers.ErrUnavailable},
		"InvalidParameterException": {"InvalidParameterException", 400, providers.ErrInvalid},
	}
	for name, tc := range errorCases {
		t.Run(name, func(t *testing.T) {
			fake.Fail("app/db", tc.code, tc.status)
			defer fake.Fail("app/db", "", 0)
			_, err := c.GetSecret(ctx, providers.Ref{Key: "app/db"})
			if !errors.Is(err, tc.class) {
				t.Fatalf("%s gave %v, want class %v", tc.code, err, tc.class)
			}
		})
	}
}

// Static keys with a role: the keys sign STS AssumeRole, and Secrets Manager
// is called with the role's temporary credentials.
func TestStaticKeysAssumeTheRole(t *testing.T) {
	ctx := context.Background()
	fake, store := harness(t)
	fake.Put("app/db", "v")
	s, kube, ns := store(secretAccessKey)(t)
	s.(*vfv1alpha1.SecretStore).Spec.Provider.AWS.Role = "arn:aws:iam::123456789012:role/reader"
	c, err := awssm.New(awssm.WithHTTPClient(fake.Client())).NewClient(ctx, s, kube, ns)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetSecret(ctx, providers.Ref{Key: "app/db"}); err != nil {
		t.Fatal(err)
	}
	if fake.Requests("AssumeRole") != 1 || !strings.HasPrefix(fake.LastCaller(), "ASIAFAKE") {
		t.Fatalf("AssumeRole calls %d, caller %q: the role was not assumed", fake.Requests("AssumeRole"), fake.LastCaller())
	}
	if _, err := c.GetSecret(ctx, providers.Ref{Key: "app/db"}); err != nil {
		t.Fatal(err)
	}
	if n := fake.Requests("AssumeRole"); n != 1 {
		t.Errorf("credentials not cached: %d AssumeRole calls for two reads", n)
	}
}

// Reads of the latest values of different secrets that arrive together go
// out as BatchGetSecretValue calls of up to 20 secrets; AWS bills per call.
func TestReadsArrivingTogetherAreBatched(t *testing.T) {
	ctx := context.Background()
	// Which reads arrive "together" is a matter of time: on a loaded machine
	// 100 goroutines may take longer than the 10 ms window to start. The
	// window here is long enough for any machine; the rule is the same.
	awssm.SetBatchWait(t, time.Second)
	fake, store := harness(t)
	for i := range 100 {
		fake.Put(fmt.Sprintf("app/key-%03d", i), fmt.Sprintf("value-%03d", i))
	}
	s, kube, ns := store(secretAccessKey)(t)
	c, err := awssm.New(awssm.WithHTTPClient(fake.Client())).NewClient(ctx, s, kube, ns)
	if err != nil {
		t.Fatal(err)
	}
	readAll := func(keys []string) map[string]error {
		t.Helper()
		var mu sync.Mutex
		errs := map[string]error{}
		var wg sync.WaitGroup
		for _, key := range keys {
			wg.Go(func() {
				got, err := c.GetSecret(ctx, providers.Ref{Key: key})
				if err == nil && string(got.Value) != strings.Replace(key, "app/key-", "value-", 1) {
					err = fmt.Errorf("read %q", got.Value)
				}
				mu.Lock()
				errs[key] = err
				mu.Unlock()
			})
		}
		wg.Wait()
		return errs
	}
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = fmt.Sprintf("app/key-%03d", i)
	}
	for key, err := range readAll(keys) {
		if err != nil {
			t.Errorf("%s: %v", key, err)
		}
	}
	if batches, singles := fake.Requests("BatchGetSecretValue"), fake.Requests("GetSecretValue"); batches > 5 || singles != 0 {
		t.Errorf("100 keys took %d BatchGetSecretValue and %d GetSecretValue calls, want at most 5 and 0", batches, singles)
	}

	// A missing key fails alone; a pinned stage is read on its own.
	errs := readAll([]string{"app/key-001", "app/absent", "app/key-002"})
	if !errors.Is(errs["app/absent"], providers.ErrNotFound) || errs["app/key-001"] != nil || errs["app/key-002"] != nil {
		t.Errorf("batch with a missing key: %v", errs)
	}
	before := fake.Requests("GetSecretValue")
	if _, err := c.GetSecret(ctx, providers.Ref{Key: "app/key-003", Version: "AWSCURRENT"}); err != nil || fake.Requests("GetSecretValue") != before+1 {
		t.Errorf("a pinned stage: %v, %d GetSecretValue calls", err, fake.Requests("GetSecretValue")-before)
	}

	// A caller whose IAM policy does not allow BatchGetSecretValue reads one by one.
	fake.Fail("BatchGetSecretValue", "AccessDeniedException", 400)
	for key, err := range readAll(keys[:30]) {
		if err != nil {
			t.Errorf("without BatchGetSecretValue, %s: %v", key, err)
		}
	}
	if got := fake.Requests("GetSecretValue") - before - 1; got != 30 {
		t.Errorf("without BatchGetSecretValue: %d GetSecretValue calls for 30 keys", got)
	}
}

// A find of 100 keys costs the list pages and ⌈100/20⌉ BatchGetSecretValue
// calls, no GetSecretValue or DescribeSecret; a key Keep drops is never asked for.
func TestFindBatchesValueReads(t *testing.T) {
	ctx := context.Background()
	fake, store := harness(t)
	for i := range 100 {
		fake.Put(fmt.Sprintf("team/app/key-%03d", i), fmt.Sprintf(`{"n":%d}`, i))
	}
	fake.Put("team/app/other-tenant", `{"n":-1}`)
	fake.Put("team/elsewhere", `{"n":-2}`)
	s, kube, ns := store(secretAccessKey)(t)
	c, err := awssm.New(awssm.WithHTTPClient(fake.Client())).NewClient(ctx, s, kube, ns)
	if err != nil {
		t.Fatal(err)
	}
	lists := fake.Requests("ListSecrets")
	found, err := c.FindSecrets(ctx, providers.FindRequest{Path: "team/app/", MaxKeys: 100,
		Keep: func(key string) bool { return key != "team/app/other-tenant" }})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 100 || string(found["team/app/key-042"].Value) != `{"n":42}` {
		t.Fatalf("found %d keys (key-042 = %q), want the 100 keys with their values", len(found), found["team/app/key-042"].Value)
	}
	calls := map[string]int{
		"BatchGetSecretValue": fake.Requests("BatchGetSecretValue"),
		"GetSecretValue":      fake.Requests("GetSecretValue"),
		"DescribeSecret":      fake.Requests("DescribeSecret"),
		"ListSecrets":         fake.Requests("ListSecrets") - lists,
	}
	if calls["BatchGetSecretValue"] > 5 || calls["GetSecretValue"] != 0 || calls["DescribeSecret"] != 0 || calls["ListSecrets"] != 2 {
		t.Fatalf("calls = %v, want at most 5 BatchGetSecretValue, 2 ListSecrets pages (101 names at 100 a page) and nothing else", calls)
	}
	if n := fake.Batched("team/app/other-tenant"); n != 0 {
		t.Fatalf("a key Keep dropped was asked for %d times", n)
	}
	t.Logf("100 found keys: %v", calls)
}
