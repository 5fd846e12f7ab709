package zohoquota

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestV8Write(t *testing.T) {
	batch := []map[string]any{{"Last_Name": "Doe"}, {"Company": "Acme"}}
	tests := []struct {
		name    string
		status  int
		body    string
		want    []Result
		wantErr error
		plain   bool // an ambiguous error: none of the sentinels
	}{
		{
			name:   "all added",
			status: 201,
			body:   `{"data":[{"code":"SUCCESS","details":{"id":"1"},"message":"record added","status":"success"},{"code":"SUCCESS","details":{"id":"2"},"message":"record added","status":"success"}]}`,
			want: []Result{
				{Code: "SUCCESS", Status: "success", Message: "record added", ID: "1"},
				{Code: "SUCCESS", Status: "success", Message: "record added", ID: "2"},
			},
		},
		{
			name:   "207 partial failure",
			status: 207,
			body:   `{"data":[{"code":"SUCCESS","details":{"id":"1"},"message":"record added","status":"success"},{"code":"MANDATORY_NOT_FOUND","details":{"api_name":"Last_Name"},"message":"required field not found","status":"error"}]}`,
			want: []Result{
				{Code: "SUCCESS", Status: "success", Message: "record added", ID: "1"},
				{Code: "MANDATORY_NOT_FOUND", Status: "error", Message: "required field not found", Details: map[string]any{"api_name": "Last_Name"}},
			},
		},
		{
			name:    "429",
			status:  429,
			body:    `{"code":"TOO_MANY_REQUESTS","details":{},"message":"limit exceeded","status":"error"}`,
			wantErr: ErrQuotaExhausted,
		},
		{
			name:    "whole request refused",
			status:  400,
			body:    `{"code":"LIMIT_EXCEEDED","details":{"limit":100},"message":"too many records","status":"error"}`,
			wantErr: ErrRejected,
		},
		{
			name:   "500 is ambiguous",
			status: 500,
			body:   `oops`,
			plain:  true,
		},
		{
			name:   "result count mismatch is ambiguous",
			status: 200,
			body:   `{"data":[{"code":"SUCCESS","details":{"id":"1"},"message":"record added","status":"success"}]}`,
			plain:  true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				assert.Equal(t, "POST", r.Method)
				assert.Equal(t, "/crm/v8/Leads", r.URL.Path)
				assert.Equal(t, "Zoho-oauthtoken tok", r.Header.Get("Authorization"))
				var body struct{ Data []map[string]any }
				b, _ := io.ReadAll(r.Body)
				assert.NoError(t, json.Unmarshal(b, &body))
				assert.Len(t, body.Data, 2)
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			send := V8Write[map[string]any](V8Target{Client: srv.Client(), BaseURL: srv.URL + "/", Module: "Leads", Token: "tok"})
			got, err := send(t.Context(), batch)
			switch {
			case tt.wantErr != nil:
				require.ErrorIs(t, err, tt.wantErr)
			case tt.plain:
				require.Error(t, err)
				assert.NotErrorIs(t, err, ErrNotWritten)
				assert.NotErrorIs(t, err, ErrQuotaExhausted)
			default:
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
			}
		})
	}
}

func TestV8WriteUpsertPath(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "/crm/v8/Leads/upsert", r.URL.Path)
		io.WriteString(w, `{"data":[{"code":"SUCCESS","details":{"id":"1"},"message":"record updated","status":"success"}]}`)
	}))
	defer srv.Close()
	got, err := V8Write[map[string]any](V8Target{Client: srv.Client(), BaseURL: srv.URL, Module: "Leads", Upsert: true})(t.Context(), []map[string]any{{"a": 1}})
	require.NoError(t, err)
	assert.Equal(t, "1", got[0].ID)
}

func TestV8WriteNotWritten(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens: the connection is refused
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	_, err = V8Write[map[string]any](V8Target{Client: client, BaseURL: "http://" + addr, Module: "Leads"})(t.Context(), []map[string]any{{"a": 1}})
	require.ErrorIs(t, err, ErrNotWritten)
}

func TestV8WriteUnencodable(t *testing.T) {
	_, err := V8Write[map[string]any](V8Target{BaseURL: "http://127.0.0.1:1", Module: "Leads"})(t.Context(), []map[string]any{{"f": func() {}}})
	require.ErrorIs(t, err, ErrRejected)
}
