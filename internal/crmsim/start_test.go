package crmsim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStartServesOverLoopback(t *testing.T) {
	_, err := Start(Config{API: V8})
	require.Error(t, err)

	rs, err := Start(Config{API: V8, CreditLimit: 100, Concurrency: 4})
	require.NoError(t, err)
	defer rs.Close()
	require.Contains(t, rs.URL, "http://127.0.0.1:")
	client := rs.Client()

	send := func(method, path string, body any) (*http.Response, []byte) {
		var rd io.Reader
		if body != nil {
			b, err := json.Marshal(body)
			require.NoError(t, err)
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequest(method, rs.URL+path, rd)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Zoho-oauthtoken "+tok)
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, b
	}

	resp, _ := send(http.MethodPost, "/crm/v8/Leads", leads(3))
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	resp, b := send(http.MethodGet, "/crm/v8/Leads?fields=Last_Name", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Content-Type"), "application/json")
	var got map[string]any
	require.NoError(t, json.Unmarshal(b, &got))
	assert.Len(t, got["data"], 3)
	assert.Len(t, rs.Records("Leads"), 3)
}

// A client that never has more than Concurrency calls outstanding must never
// be refused, even though the slot is released as the answer goes out.
func TestClientWithinConcurrencyIsNeverRefused(t *testing.T) {
	const workers, perWorker = 4, 40
	rs, err := Start(Config{API: V8, CreditLimit: 1_000_000, Concurrency: workers})
	require.NoError(t, err)
	defer rs.Close()
	rs.Seed("Leads", 10)
	client := rs.Client()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range perWorker {
				req, err := http.NewRequest(http.MethodGet, rs.URL+"/crm/v8/Leads?fields=Last_Name", nil)
				if !assert.NoError(t, err) {
					return
				}
				req.Header.Set("Authorization", "Zoho-oauthtoken "+tok)
				resp, err := client.Do(req)
				if !assert.NoError(t, err) {
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				assert.Equal(t, http.StatusOK, resp.StatusCode)
			}
		})
	}
	wg.Wait()
	st := rs.Stats()
	assert.Zero(t, st.Rejected429)
	assert.LessOrEqual(t, st.MaxInFlightPerToken[tok], workers)
	assert.Equal(t, workers*perWorker, st.Admitted)
}
