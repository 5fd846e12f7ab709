package crmsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const tok = "1000.test.token"

var (
	zohoID   = regexp.MustCompile(`^[0-9]{19}$`)
	isoWithZ = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$`)
)

func newV8(t *testing.T, mutate ...func(*Config)) *Server {
	t.Helper()
	cfg := Config{API: V8, CreditLimit: 1_000_000}
	for _, f := range mutate {
		f(&cfg)
	}
	s, err := New(cfg)
	require.NoError(t, err)
	return s
}

func newV1(t *testing.T, mutate ...func(*Config)) *Server {
	t.Helper()
	cfg := Config{API: V1, DailyLimit: 1_000_000}
	for _, f := range mutate {
		f(&cfg)
	}
	s, err := New(cfg)
	require.NoError(t, err)
	return s
}

// call sends one request through ServeHTTP (no socket: works in a bubble).
func call(h http.Handler, method, target, token string, body any) *httptest.ResponseRecorder {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			panic(err)
		}
		rd = bytes.NewReader(buf)
	}
	req := httptest.NewRequest(method, target, rd)
	if token != "" {
		req.Header.Set("Authorization", "Zoho-oauthtoken "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func decode(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &m), "body: %s", rec.Body.String())
	return m
}

// lead returns a valid lead; i makes it unique.
func lead(i int) map[string]any {
	return map[string]any{
		"First_Name": "Ada",
		"Last_Name":  fmt.Sprintf("Tester%d", i),
		"Company":    "Example Ltd",
		"Email":      fmt.Sprintf("ada.tester%d@example.com", i),
	}
}

func leads(n int) map[string]any {
	data := make([]map[string]any, n)
	for i := range data {
		data[i] = lead(i)
	}
	return map[string]any{"data": data}
}

func records(body map[string]any) []map[string]any {
	raw, _ := body["data"].([]any)
	out := make([]map[string]any, len(raw))
	for i, r := range raw {
		out[i], _ = r.(map[string]any)
	}
	return out
}

// v1Call sends a v1 request with the given form values in the query string.
func v1Call(h http.Handler, method, token string, form url.Values) *httptest.ResponseRecorder {
	if token != "" {
		form.Set("authtoken", token)
	}
	form.Set("scope", "crmapi")
	target := "/crm/private/json/Leads/" + method + "?" + form.Encode()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec
}

func v1Resp(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	require.Equal(t, http.StatusOK, rec.Code, "v1 always answers 200")
	m := decode(t, rec)
	resp, ok := m["response"].(map[string]any)
	require.True(t, ok, "body: %s", rec.Body.String())
	return resp
}

func httptestRequest(method, target string) *http.Request {
	return httptest.NewRequest(method, target, nil)
}

func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}
