package gate

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// failingStore fails every call and records the keys it was asked about.
type failingStore struct{ asked []Key }

func (s *failingStore) IsOpen(_ context.Context, k Key) (bool, error) {
	s.asked = append(s.asked, k)
	return false, errors.New("the API server refused")
}

func (s *failingStore) Set(_ context.Context, k Key, _ bool) error {
	s.asked = append(s.asked, k)
	return errors.New("the API server refused")
}

type answer struct {
	Code  int
	Body  string
	Asked []Key
}

// serve posts body to path on a handler backed by a failingStore.
func serve(path, body string) answer {
	store := &failingStore{}
	rec := httptest.NewRecorder()
	NewHandler(store).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
	return answer{Code: rec.Code, Body: rec.Body.String(), Asked: store.asked}
}

// TestMalformedPayloads: a payload that names no valid canary gets 400 with its reason and
// never reaches the store.
func TestMalformedPayloads(t *testing.T) {
	tests := map[string]struct {
		path, body string
		reason     string
	}{
		"empty body":        {"/gate/check", "", "empty payload"},
		"not JSON":          {"/gate/open", "name=podinfo", "decoding the payload"},
		"JSON array":        {"/rollback/check", `["podinfo"]`, "decoding the payload"},
		"metadata not text": {"/gate/close", `{"name":"p","namespace":"n","metadata":{"a":1}}`, "decoding the payload"},
		"no namespace":      {"/rollback/open", `{"name":"podinfo"}`, "both are required"},
		"no name":           {"/rollback/close", `{"namespace":"test"}`, "both are required"},
		"invalid name":      {"/gate/check", `{"name":"Pod Info","namespace":"test"}`, `canary name "Pod Info"`},
		"invalid namespace": {"/gate/open", `{"name":"podinfo","namespace":"te.st"}`, `namespace "te.st"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := serve(tc.path, tc.body)
			if got.Code != http.StatusBadRequest || len(got.Asked) != 0 || !strings.Contains(got.Body, tc.reason) {
				t.Errorf("%s %q: got %d %q (store asked %v), want 400 mentioning %q and no store call",
					tc.path, tc.body, got.Code, got.Body, got.Asked, tc.reason)
			}
		})
	}
}

// TestStoreErrors: when the cluster refuses, checks and changes answer 500 with the reason:
// Flagger then neither passes a confirm gate nor rolls back.
func TestStoreErrors(t *testing.T) {
	payload := `{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"abc","metadata":{"a":"b"}}`
	tests := map[string]answer{
		"/gate/check":     {500, "the API server refused", []Key{{Confirm, "test", "podinfo"}}},
		"/gate/open":      {500, "the API server refused", []Key{{Confirm, "test", "podinfo"}}},
		"/gate/close":     {500, "the API server refused", []Key{{Confirm, "test", "podinfo"}}},
		"/rollback/check": {500, "the API server refused", []Key{{Rollback, "test", "podinfo"}}},
		"/rollback/open":  {500, "the API server refused", []Key{{Rollback, "test", "podinfo"}}},
		"/rollback/close": {500, "the API server refused", []Key{{Rollback, "test", "podinfo"}}},
	}
	for path, want := range tests {
		t.Run(path, func(t *testing.T) {
			if diff := cmp.Diff(want, serve(path, payload)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", path, diff)
			}
		})
	}
}
