package zohoquota

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// okTransport answers every request with an empty 200 and counts them.
type okTransport struct{ calls atomic.Int64 }

func (o *okTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	o.calls.Add(1)
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("")), Request: req}, nil
}

func TestDefaultThrottlesMatch(t *testing.T) {
	tests := []struct {
		method, url string
		want        string
	}{
		{"GET", "https://www.zohoapis.com/crm/bulk/v8/read/554023000000568002/result", "bulk read download"},
		{"GET", "https://www.zohoapis.com/crm/bulk/v8/read/554023000000568002", ""},
		{"POST", "https://accounts.zoho.com/oauth/v2/token", "oauth token"},
		{"GET", "https://accounts.zoho.com/oauth/v2/token", ""},
		{"POST", "https://crm.zoho.com/crm/private/json/Leads/uploadFile", "v1 uploadFile"},
		{"POST", "https://crm.zoho.com/crm/private/json/Leads/insertRecords", ""},
		{"GET", "https://www.zohoapis.com/crm/v8/Leads", ""},
	}
	ths := DefaultThrottles()
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.url, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, tt.url, nil)
			require.NoError(t, err)
			got := ""
			for _, th := range ths {
				if th.Match(req) {
					got = th.Name
				}
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

// The bulk download throttle lets 10 through in any minute, never 11, and a
// deadline that ends before the next token fails at once.
func TestTransportThrottle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestLimiter(t, Quota{Limit: 1000, Window: Rolling(24 * time.Hour)})
		base := &okTransport{}
		client := &http.Client{Transport: &Transport{Base: base, Limiter: l, Throttles: DefaultThrottles()}}
		url := "https://www.zohoapis.com/crm/bulk/v8/read/1/result"
		start := time.Now()
		var times []time.Duration
		for range 11 {
			resp, err := client.Get(url)
			require.NoError(t, err)
			resp.Body.Close()
			times = append(times, time.Since(start))
		}
		assert.Equal(t, 10*6*time.Second, times[10], "the 11th download waits until a minute after the 1st")
		assert.Less(t, times[9], time.Minute, "10 go out in the first minute")

		// Calls the throttle does not match are not held up.
		resp, err := client.Get("https://www.zohoapis.com/crm/v8/Leads")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, times[10], time.Since(start))

		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		require.NoError(t, err)
		_, err = client.Do(req)
		var qe *QuotaError
		require.ErrorAs(t, err, &qe)
		assert.True(t, qe.Paced)
		assert.ErrorIs(t, err, ErrQuotaExhausted)
		assert.Contains(t, qe.Key, "bulk read download")
		assert.Equal(t, int64(12), base.calls.Load())
	})
}

// Calls that queue for a concurrency slot take their throttle token only once they
// hold the slot, so they never go out in a burst when slots free up.
func TestThrottleAfterSlots(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestLimiter(t, Quota{Limit: 1000, Window: Rolling(24 * time.Hour), Concurrency: 1})
		base := &okTransport{}
		client := &http.Client{Transport: &Transport{Base: base, Limiter: l, Throttles: DefaultThrottles()}}

		// A long call holds the only slot for two minutes.
		hold, err := l.Acquire(t.Context(), 1)
		require.NoError(t, err)
		go func() {
			time.Sleep(2 * time.Minute)
			hold()
		}()
		start := time.Now()
		var mu sync.Mutex
		var sent []time.Duration
		var wg sync.WaitGroup
		for range 15 {
			wg.Go(func() {
				resp, err := client.Get("https://www.zohoapis.com/crm/bulk/v8/read/1/result")
				if assert.NoError(t, err) {
					resp.Body.Close()
					mu.Lock()
					sent = append(sent, time.Since(start))
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		slices.Sort(sent)
		require.Len(t, sent, 15)
		for i := 10; i < 15; i++ {
			assert.GreaterOrEqual(t, sent[i]-sent[i-10], time.Minute, "at most 10 downloads in any minute")
		}
	})
}
