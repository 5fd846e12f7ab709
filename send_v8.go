package zohoquota

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// V8Target is where V8Write sends records: a module of one Zoho CRM organization
// under the current API.
type V8Target struct {
	// Client sends the requests; nil means http.DefaultClient. Give it a Transport
	// to admit each request there instead of in the Job (not both).
	Client *http.Client
	// BaseURL is the organization's API domain, "https://www.zohoapis.com" (or .eu,
	// .in, ...; a crmsim server's URL in tests).
	BaseURL string
	Module  string
	// Upsert sends to {Module}/upsert: a batch sent twice leaves one record each.
	Upsert bool
	// Token, if set, is sent as "Authorization: Zoho-oauthtoken <Token>".
	Token string
}

// maxResponse bounds what is read of a response body: 100 results are a few KB.
const maxResponse = 8 << 20

// V8Write returns a SendFunc that writes a batch with
// POST {BaseURL}/crm/v8/{Module} (or .../upsert) and the body {"data":[...]}, and
// reads Zoho's per-record results, HTTP 207 partial failures included.
//
// Its errors follow SendFunc's contract: an error wrapping ErrNotWritten when the
// request was never written to the connection or Zoho refused it whole (ErrRejected
// for 4xx envelopes such as INVALID_TOKEN or LIMIT_EXCEEDED), a *QuotaError with
// Server set for HTTP 429, and a plain, ambiguous error otherwise (a timeout after
// the request was written, a 5xx).
func V8Write[R any](t V8Target) SendFunc[R] {
	client := t.Client
	if client == nil {
		client = http.DefaultClient
	}
	endpoint := strings.TrimRight(t.BaseURL, "/") + "/crm/v8/" + url.PathEscape(t.Module)
	if t.Upsert {
		endpoint += "/upsert"
	}
	return func(ctx context.Context, batch []R) ([]Result, error) {
		body, err := json.Marshal(struct {
			Data []R `json:"data"`
		}{batch})
		if err != nil {
			return nil, fmt.Errorf("zohoquota: encode batch: %w: %w", ErrRejected, err)
		}
		auth := ""
		if t.Token != "" {
			auth = "Zoho-oauthtoken " + t.Token
		}
		resp, data, err := postBatch(ctx, client, endpoint, "application/json", body, auth)
		if err != nil {
			return nil, err
		}
		return parseV8Write(resp, data, len(batch))
	}
}

// v8Envelope is Zoho's answer to a write: per-record results in data, or one error.
type v8Envelope struct {
	Data    []v8Result     `json:"data"`
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details"`
}

type v8Result struct {
	Code    string         `json:"code"`
	Details map[string]any `json:"details"`
	Message string         `json:"message"`
	Status  string         `json:"status"`
}

func parseV8Write(resp *http.Response, body []byte, n int) ([]Result, error) {
	var env v8Envelope
	jsonErr := json.Unmarshal(body, &env)
	if resp.StatusCode == http.StatusTooManyRequests {
		return nil, &QuotaError{Key: "server", Cost: 1, Server: true, ResetAt: retryAfter(resp.Header)}
	}
	if jsonErr == nil && env.Data != nil && resp.StatusCode < 500 {
		if len(env.Data) != n {
			return nil, fmt.Errorf("zohoquota: HTTP %d: %d results for %d records", resp.StatusCode, len(env.Data), n)
		}
		out := make([]Result, n)
		for i, d := range env.Data {
			out[i] = Result{Code: d.Code, Status: d.Status, Message: d.Message}
			if id, ok := d.Details["id"].(string); ok {
				out[i].ID = id
			}
			if !out[i].OK() {
				out[i].Details = d.Details // why it failed; a success's details are just its id
			}
		}
		return out, nil
	}
	what := fmt.Sprintf("HTTP %d", resp.StatusCode)
	if env.Code != "" {
		what += " " + env.Code + ": " + env.Message
	}
	if resp.StatusCode >= 400 && resp.StatusCode < 500 {
		return nil, fmt.Errorf("zohoquota: %s: %w", what, ErrRejected)
	}
	return nil, fmt.Errorf("zohoquota: %s: unexpected answer to a write", what)
}

// retryAfter reads a Retry-After header in seconds or as an HTTP date; zero when
// absent or unreadable.
func retryAfter(h http.Header) time.Time {
	v := h.Get("Retry-After")
	if v == "" {
		return time.Time{}
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Now().Add(time.Duration(s) * time.Second)
	}
	if t, err := http.ParseTime(v); err == nil {
		return t
	}
	return time.Time{}
}

// postBatch POSTs one batch and reads the answer. Its errors tell a request that was
// never written to the connection (wrapping ErrNotWritten: safe to send again) from
// one that may have been (plain: ambiguous), as SendFunc's contract asks.
func postBatch(ctx context.Context, client *http.Client, endpoint, contentType string, body []byte, auth string) (*http.Response, []byte, error) {
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, nil, fmt.Errorf("zohoquota: build request: %w: %w", ErrRejected, err)
	}
	req.Header.Set("Content-Type", contentType)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := client.Do(req)
	if err != nil {
		if !wrote.Load() {
			return nil, nil, fmt.Errorf("zohoquota: POST %s: %w: %w", endpoint, ErrNotWritten, err)
		}
		return nil, nil, fmt.Errorf("zohoquota: POST %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, nil, fmt.Errorf("zohoquota: POST %s: read response: %w", endpoint, err)
	}
	return resp, data, nil
}
