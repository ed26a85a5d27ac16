// Package awsfake is a fake AWS Secrets Manager and STS for tests: no AWS
// emulator can run here, so it serves the real wire protocols (JSON 1.1 with
// X-Amz-Target for Secrets Manager, the Query protocol for STS) over TLS and
// verifies every Secrets Manager request's SigV4 signature, so the real SDK
// client is what the tests drive.
package awsfake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const accountID = "123456789012"

// Server is a running fake. Its methods are safe for concurrent use.
type Server struct {
	*httptest.Server
	Region string

	mu         sync.Mutex
	keys       map[string]string // access key id → secret access key
	secrets    map[string]*secret
	failures   map[string]failure // secret name → forced error
	tokens     []WebIdentityCall
	requests   map[string]int // operation → count
	batched    map[string]int // secret name → times asked for in a batch
	issued     int
	lastCaller string
}

// WebIdentityCall records one AssumeRoleWithWebIdentity request.
type WebIdentityCall struct {
	RoleARN, SessionName, Token string
}

type secret struct {
	name         string
	versions     []*version
	nextRotation *time.Time
	tags         map[string]string
}

type version struct {
	id     string
	value  string
	binary []byte
	stages []string
}

type failure struct {
	code   string
	status int
}

// New starts a fake that accepts requests signed with accessKeyID/secretAccessKey.
func New(accessKeyID, secretAccessKey string) *Server {
	s := &Server{Region: "eu-west-1", keys: map[string]string{accessKeyID: secretAccessKey},
		secrets: map[string]*secret{}, failures: map[string]failure{}, requests: map[string]int{}, batched: map[string]int{}}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	return s
}

// ARN is the ARN the fake gives a secret.
func (s *Server) ARN(name string) string {
	return fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-AbCdEf", s.Region, accountID, name)
}

// Put stores a new version of a string secret and makes it AWSCURRENT; the
// previous AWSCURRENT becomes AWSPREVIOUS. It returns the version id.
func (s *Server) Put(name, value string) string { return s.put(name, value, nil) }

// PutBinary stores a new SecretBinary version.
func (s *Server) PutBinary(name string, value []byte) string { return s.put(name, "", value) }

func (s *Server) put(name, value string, binary []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[name]
	if sec == nil {
		sec = &secret{name: name}
		s.secrets[name] = sec
	}
	for _, v := range sec.versions {
		v.stages = without(v.stages, "AWSPREVIOUS")
		if contains(v.stages, "AWSCURRENT") {
			v.stages = append(without(v.stages, "AWSCURRENT"), "AWSPREVIOUS")
		}
	}
	id := fmt.Sprintf("%08x-0000-4000-8000-%012x", len(sec.versions)+1, len(s.secrets))
	sec.versions = append(sec.versions, &version{id: id, value: value, binary: binary, stages: []string{"AWSCURRENT"}})
	return id
}

// Tag sets the secret's tags.
func (s *Server) Tag(name string, tags map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets[name].tags = tags
}

// SetNextRotation sets the secret's next rotation date.
func (s *Server) SetNextRotation(name string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets[name].nextRotation = &at
}

// Fail makes every request for the named secret return the AWS error code
// with the HTTP status; an empty code clears it.
func (s *Server) Fail(name, code string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code == "" {
		delete(s.failures, name)
		return
	}
	s.failures[name] = failure{code, status}
}

// WebIdentityCalls returns the AssumeRoleWithWebIdentity requests received.
func (s *Server) WebIdentityCalls() []WebIdentityCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]WebIdentityCall(nil), s.tokens...)
}

// Requests returns how many times an operation (e.g. "GetSecretValue") was called.
func (s *Server) Requests(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[op]
}

// LastCaller is the access key id that signed the last Secrets Manager request.
func (s *Server) LastCaller() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastCaller
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		s.serveSecretsManager(w, r, strings.TrimPrefix(target, "secretsmanager."), body)
		return
	}
	s.serveSTS(w, r, body)
}

func (s *Server) serveSecretsManager(w http.ResponseWriter, r *http.Request, op string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[op]++
	caller, ok := s.verifySignature(r, body, "secretsmanager")
	if !ok {
		writeJSONError(w, http.StatusBadRequest, "UnrecognizedClientException", "The security token included in the request is invalid.")
		return
	}
	s.lastCaller = caller
	var in struct {
		SecretID     string `json:"SecretId"`
		VersionID    string `json:"VersionId"`
		VersionStage string `json:"VersionStage"`
	}
	_ = json.Unmarshal(body, &in)
	if f, failing := s.failures[s.nameOf(in.SecretID)]; failing {
		writeJSONError(w, f.status, f.code, "injected failure")
		return
	}
	switch op {
	case "ListSecrets":
		s.serveList(w, body)
	case "BatchGetSecretValue":
		s.serveBatch(w, body)
	case "GetSecretValue", "DescribeSecret":
		sec := s.secrets[s.nameOf(in.SecretID)]
		if sec == nil {
			writeJSONError(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
			return
		}
		if op == "DescribeSecret" {
			out := map[string]any{"ARN": s.ARN(sec.name), "Name": sec.name}
			if sec.nextRotation != nil {
				out["NextRotationDate"] = float64(sec.nextRotation.Unix())
				out["RotationEnabled"] = true
			}
			writeJSON(w, out)
			return
		}
		v := sec.find(in.VersionID, in.VersionStage)
		if v == nil {
			writeJSONError(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for the version.")
			return
		}
		writeJSON(w, s.valueOf(sec, v))
	default:
		writeJSONError(w, http.StatusBadRequest, "InvalidAction", "operation not supported by the fake")
	}
}

func (s *Server) valueOf(sec *secret, v *version) map[string]any {
	out := map[string]any{"ARN": s.ARN(sec.name), "Name": sec.name, "VersionId": v.id, "VersionStages": v.stages, "CreatedDate": float64(time.Now().Unix())}
	if v.binary != nil {
		out["SecretBinary"] = v.binary // []byte marshals as base64, as AWS sends blobs
	} else {
		out["SecretString"] = v.value
	}
	return out
}

// serveList answers ListSecrets a page at a time (MaxResults, at most 100,
// and NextToken) with names, ARNs, tags and rotation dates, never values.
// Filters are ANDed between keys and ORed within one; name, tag-key and
// tag-value match prefixes, case-sensitively, as AWS documents.
func (s *Server) serveList(w http.ResponseWriter, body []byte) {
	var in struct {
		MaxResults int
		NextToken  string
		Filters    []struct {
			Key    string
			Values []string
		}
	}
	_ = json.Unmarshal(body, &in)
	if in.MaxResults <= 0 || in.MaxResults > 100 {
		in.MaxResults = 100
	}
	var names []string
	for _, name := range slices.Sorted(maps.Keys(s.secrets)) {
		sec := s.secrets[name]
		matches := true
		for _, f := range in.Filters {
			matches = matches && slices.ContainsFunc(f.Values, func(v string) bool {
				switch f.Key {
				case "name":
					return strings.HasPrefix(name, v)
				case "tag-key":
					return slices.ContainsFunc(slices.Collect(maps.Keys(sec.tags)), func(k string) bool { return strings.HasPrefix(k, v) })
				case "tag-value":
					return slices.ContainsFunc(slices.Collect(maps.Values(sec.tags)), func(t string) bool { return strings.HasPrefix(t, v) })
				}
				return false
			})
		}
		if matches {
			names = append(names, name)
		}
	}
	start, _ := strconv.Atoi(in.NextToken)
	start = min(max(start, 0), len(names))
	end := min(start+in.MaxResults, len(names))
	list := []map[string]any{}
	for _, name := range names[start:end] {
		entry := map[string]any{"ARN": s.ARN(name), "Name": name}
		if tags := s.secrets[name].tags; len(tags) > 0 {
			var out []map[string]string
			for _, k := range slices.Sorted(maps.Keys(tags)) {
				out = append(out, map[string]string{"Key": k, "Value": tags[k]})
			}
			entry["Tags"] = out
		}
		if next := s.secrets[name].nextRotation; next != nil {
			entry["NextRotationDate"] = float64(next.Unix())
			entry["RotationEnabled"] = true
		}
		list = append(list, entry)
	}
	out := map[string]any{"SecretList": list}
	if end < len(names) {
		out["NextToken"] = strconv.Itoa(end)
	}
	writeJSON(w, out)
}

// serveBatch answers BatchGetSecretValue with SecretIdList (at most 20, as
// AWS allows): the AWSCURRENT value of each found secret, and an entry in
// Errors for each other (ResourceNotFoundException, or an injected failure).
// A failure injected for BatchGetSecretValue fails the whole call.
func (s *Server) serveBatch(w http.ResponseWriter, body []byte) {
	var in struct {
		SecretIDList []string `json:"SecretIdList"`
	}
	_ = json.Unmarshal(body, &in)
	if f, failing := s.failures["BatchGetSecretValue"]; failing {
		writeJSONError(w, f.status, f.code, "injected failure")
		return
	}
	if len(in.SecretIDList) == 0 || len(in.SecretIDList) > 20 {
		writeJSONError(w, http.StatusBadRequest, "InvalidParameterException", "SecretIdList must have 1 to 20 entries.")
		return
	}
	for _, id := range in.SecretIDList {
		// Throttling and server errors fail the call, not one entry.
		if f, failing := s.failures[s.nameOf(id)]; failing && f.status != http.StatusBadRequest {
			writeJSONError(w, f.status, f.code, "injected failure")
			return
		}
	}
	values, errs := []map[string]any{}, []map[string]any{}
	for _, id := range in.SecretIDList {
		s.batched[s.nameOf(id)]++
		if f, failing := s.failures[s.nameOf(id)]; failing {
			errs = append(errs, map[string]any{"SecretId": id, "ErrorCode": f.code, "Message": "injected failure"})
			continue
		}
		sec := s.secrets[s.nameOf(id)]
		var v *version
		if sec != nil {
			v = sec.find("", "")
		}
		if v == nil {
			errs = append(errs, map[string]any{"SecretId": id, "ErrorCode": "ResourceNotFoundException", "Message": "Secrets Manager can't find the specified secret."})
			continue
		}
		values = append(values, s.valueOf(sec, v))
	}
	writeJSON(w, map[string]any{"SecretValues": values, "Errors": errs})
}

// Batched counts how often a secret was asked for in BatchGetSecretValue calls.
func (s *Server) Batched(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.batched[name]
}

func (sec *secret) find(id, stage string) *version {
	if id == "" && stage == "" {
		stage = "AWSCURRENT"
	}
	for _, v := range sec.versions {
		if (id == "" || v.id == id) && (stage == "" || contains(v.stages, stage)) {
			return v
		}
	}
	return nil
}

// nameOf accepts a name or an ARN.
func (s *Server) nameOf(id string) string {
	if !strings.HasPrefix(id, "arn:") {
		return id
	}
	for name := range s.secrets {
		if s.ARN(name) == id {
			return name
		}
	}
	return id
}

// verifySignature re-signs the request with the secret of the access key it
// names and compares signatures. It returns the caller's access key id.
func (s *Server) verifySignature(r *http.Request, body []byte, service string) (string, bool) {
	auth := r.Header.Get("Authorization")
	fields := map[string]string{}
	for _, part := range strings.Split(strings.TrimPrefix(auth, "AWS4-HMAC-SHA256 "), ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok {
			fields[k] = v
		}
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 {
		return "", false
	}
	secretKey, known := s.keys[scope[0]]
	if !known {
		return scope[0], false
	}
	signedAt, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return scope[0], false
	}
	clone, _ := http.NewRequestWithContext(context.Background(), r.Method, "https://"+r.Host+r.URL.RequestURI(), strings.NewReader(string(body)))
	for _, h := range strings.Split(fields["SignedHeaders"], ";") {
		if h != "host" {
			clone.Header.Set(h, r.Header.Get(h))
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: scope[0], SecretAccessKey: secretKey, SessionToken: r.Header.Get("X-Amz-Security-Token")}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, clone, hex.EncodeToString(sum[:]), service, scope[2], signedAt); err != nil {
		return scope[0], false
	}
	return scope[0], strings.HasSuffix(clone.Header.Get("Authorization"), "Signature="+fields["Signature"])
}

type stsCredentials struct {
	AccessKeyID, SecretAccessKey, SessionToken, Expiration string
}

func (s *Server) serveSTS(w http.ResponseWriter, r *http.Request, body []byte) {
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	action := r.PostForm.Get("Action")
	s.requests[action]++
	switch action {
	case "AssumeRoleWithWebIdentity":
		call := WebIdentityCall{RoleARN: r.PostForm.Get("RoleArn"), SessionName: r.PostForm.Get("RoleSessionName"), Token: r.PostForm.Get("WebIdentityToken")}
		s.tokens = append(s.tokens, call)
		if call.Token == "" || strings.Count(call.Token, ".") != 2 {
			writeXMLError(w, "InvalidIdentityToken", "token is not a JWT")
			return
		}
	case "AssumeRole":
		if _, ok := s.verifySignature(r, body, "sts"); !ok {
			writeXMLError(w, "InvalidClientTokenId", "The security token included in the request is invalid.")
			return
		}
	default:
		writeXMLError(w, "InvalidAction", "action not supported by the fake")
		return
	}
	s.issued++
	creds := stsCredentials{
		AccessKeyID:     fmt.Sprintf("ASIAFAKE%08d", s.issued),
		SecretAccessKey: fmt.Sprintf("temporary-secret-%d", s.issued),
		SessionToken:    fmt.Sprintf("session-%d", s.issued),
		Expiration:      time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
	}
	s.keys[creds.AccessKeyID] = creds.SecretAccessKey
	w.Header().Set("Content-Type", "text/xml")
	_, _ = fmt.Fprintf(w, `<%[1]sResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><%[1]sResult><Credentials>`+
		`<AccessKeyId>%[2]s</AccessKeyId><SecretAccessKey>%[3]s</SecretAccessKey><SessionToken>%[4]s</SessionToken><Expiration>%[5]s</Expiration>`+
		`</Credentials></%[1]sResult><ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata></%[1]sResponse>`,
		action, creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken, creds.Expiration)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(v)
}

func writeJSONError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": message})
}

func writeXMLError(w http.ResponseWriter, code, message string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusForbidden)
	_, _ = fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>fake</RequestId></ErrorResponse>`, code, message)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func without(list []string, s string) []string {
	out := list[:0:0]
	for _, v := range list {
		if v != s {
			out = append(out, v)
		}
	}
	return out
}
