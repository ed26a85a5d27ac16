package awssm_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/awssm"
	"github.com/vaultferry/vaultferry/providers/providertest"
	"github.com/vaultferry/vaultferry/test/testenv"
)

// newCredentialServer plays the EKS Pod Identity agent (any path) and IMDSv2
// (/latest/...), handing out the fake's key pair, and records what it was asked.
func newCredentialServer(t *testing.T) *testenv.Recorder {
	return testenv.NewRecorder(t, false, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/latest/api/token":
			_, _ = w.Write([]byte("imds-session-token"))
		case "/latest/meta-data/iam/security-credentials/":
			_, _ = w.Write([]byte("node-role"))
		default:
			_ = json.NewEncoder(w).Encode(map[string]string{"Code": "Success", "AccessKeyId": accessKeyID, "SecretAccessKey": secretAccessKey,
				"Token": "session", "Expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
		}
	})
}

// A ClusterSecretStore without an auth block authenticates as the operator
// pod (when the admin allows it; see controllers/secretstore): from the
// sources a pod on Kubernetes has, in the SDK's default order. Each case
// reads a secret through the real SDK from the wire fake.
func TestOperatorOwnCredentialSources(t *testing.T) {
	dir := t.TempDir()
	jwt := filepath.Join(dir, "token")
	agentToken := filepath.Join(dir, "agent-token")
	for file, text := range map[string]string{jwt: "header.payload.signature", agentToken: "agent-token-1"} {
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name    string
		env     func(metadata *testenv.Recorder) map[string]string
		wantErr string
		check   func(t *testing.T, fakeCalls func(string) int, caller string, metadata []string)
	}{{
		name: "access keys in the environment win over everything else",
		env: func(m *testenv.Recorder) map[string]string {
			return map[string]string{"AWS_ACCESS_KEY_ID": accessKeyID, "AWS_SECRET_ACCESS_KEY": secretAccessKey,
				"AWS_WEB_IDENTITY_TOKEN_FILE": jwt, "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/irsa", "AWS_EC2_METADATA_SERVICE_ENDPOINT": m.URL}
		},
		check: func(t *testing.T, calls func(string) int, caller string, metadata []string) {
			if caller != accessKeyID || calls("AssumeRoleWithWebIdentity") != 0 || len(metadata) != 0 {
				t.Errorf("caller %q, %d web identity calls, metadata requests %q", caller, calls("AssumeRoleWithWebIdentity"), metadata)
			}
		},
	}, {
		name: "a web identity token file (EKS IRSA)",
		env: func(m *testenv.Recorder) map[string]string {
			return map[string]string{"AWS_WEB_IDENTITY_TOKEN_FILE": jwt, "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/irsa",
				"AWS_EC2_METADATA_SERVICE_ENDPOINT": m.URL}
		},
		check: func(t *testing.T, calls func(string) int, caller string, metadata []string) {
			if !strings.HasPrefix(caller, "ASIAFAKE") || calls("AssumeRoleWithWebIdentity") != 1 || len(metadata) != 0 {
				t.Errorf("caller %q, %d web identity calls, metadata requests %q", caller, calls("AssumeRoleWithWebIdentity"), metadata)
			}
		},
	}, {
		name: "the container credentials endpoint with a token file (EKS Pod Identity)",
		env: func(m *testenv.Recorder) map[string]string {
			return map[string]string{"AWS_CONTAINER_CREDENTIALS_FULL_URI": m.URL + "/v1/credentials", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": agentToken}
		},
		check: func(t *testing.T, _ func(string) int, caller string, metadata []string) {
			if caller != accessKeyID || len(metadata) != 1 || metadata[0] != "GET /v1/credentials  agent-token-1" {
				t.Errorf("caller %q, agent requests %q", caller, metadata)
			}
		},
	}, {
		name: "the node's instance profile through IMDSv2",
		env: func(m *testenv.Recorder) map[string]string {
			return map[string]string{"AWS_EC2_METADATA_SERVICE_ENDPOINT": m.URL}
		},
		check: func(t *testing.T, _ func(string) int, caller string, metadata []string) {
			if caller != accessKeyID || !strings.Contains(strings.Join(metadata, "\n"), "GET /latest/meta-data/iam/security-credentials/node-role") {
				t.Errorf("caller %q, metadata requests %q", caller, metadata)
			}
		},
	}, {
		name: "a plain-HTTP container endpoint elsewhere is refused",
		env: func(*testenv.Recorder) map[string]string {
			return map[string]string{"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://credentials.example.com/v1"}
		},
		wantErr: "plain HTTP is only allowed to a loopback address or the ECS/EKS agent",
	}, {
		name: "a web identity token without a role",
		env: func(*testenv.Recorder) map[string]string {
			return map[string]string{"AWS_WEB_IDENTITY_TOKEN_FILE": jwt}
		},
		wantErr: "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			fake, _ := harness(t)
			fake.Put("app/db", "v")
			metadata := newCredentialServer(t)
			for _, name := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
				"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
				"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_DISABLED"} {
				t.Setenv(name, "")
			}
			for name, value := range tc.env(metadata) {
				t.Setenv(name, value)
			}
			store := &vfv1alpha1.ClusterSecretStore{ObjectMeta: metav1.ObjectMeta{Name: "own"},
				Spec: vfv1alpha1.SecretStoreSpec{Provider: vfv1alpha1.SecretStoreProvider{AWS: &vfv1alpha1.AWSProvider{Region: fake.Region, Endpoint: fake.URL}}}}
			c, err := awssm.New(awssm.WithHTTPClient(fake.Client())).NewClient(context.Background(), store, providertest.Kube(), "team")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, providers.ErrInvalid) {
					t.Fatalf("got %v, want an invalid-configuration error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.GetSecret(context.Background(), providers.Ref{Key: "app/db"}); err != nil {
				t.Fatal(err)
			}
			tc.check(t, fake.Requests, fake.LastCaller(), metadata.Seen())
		})
	}
}
