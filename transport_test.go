package zohoquota_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zohoquota/zohoquota"
)

// fakeZoho is an in-memory Zoho: an http.RoundTripper that counts the calls that
// reach it and answers with handle. It closes request bodies, as a RoundTripper must.
type fakeZoho struct {
	hits   atomic.Int64
	handle func(req *http.Request, body []byte) *http.Response
}

func (f *fakeZoho) RoundTrip(req *http.Request) (*http.Response, error) {
	f.hits.Add(1)
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	return f.handle(req, body), nil
}

// reply builds a response; hdr is pairs of header names and values.
func reply(req *http.Request, status int, body string, hdr ...string) *http.Response {
	h := make(http.Header)
	for i := 0; i+1 < len(hdr); i += 2 {
		h.Set(hdr[i], hdr[i+1])
	}
	return &http.Response{
		StatusCode: status, Status: strconv.Itoa(status) + " " + http.StatusText(status),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)),
		Request: req,
	}
}

func ok(req *http.Request, _ []byte) *http.Response {
	return reply(req, http.StatusOK, `{"data":[]}`, "Content-Type", "application/json")
}

// creditLimiter returns a limiter of limit credits over a rolling 24 hours and
// concurrency calls in flight.
func creditLimiter(t *testing.T, limit, concurrency int) *zohoquota.Limiter {
	t.Helper()
	l, err := zohoquota.NewLimiter(zohoquota.Quota{Limit: limit, Window: zohoquota.Rolling(24 * time.Hour), Concurrency: concurrency})
	require.NoError(t, err)
	return l
}

const leadsURL = "https://www.zohoapis.com/crm/v8/Leads"

func get(t *testing.T, c *http.Client, u string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	return c.Do(req)
}

func drainClose(t *testing.T, resp *http.Response) {
	t.Helper()
	_, err := io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
}

// TestTransportHoldsSlotUntilBodyClosed runs against a real HTTP server whose
// handler blocks mid-body: the slot is held while the body is open.
func TestTransportHoldsSlotUntilBodyClosed(t *testing.T) {
	unblock := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"data":[`)
		w.(http.Flusher).Flush()
		select {
		case <-unblock:
		case <-r.Context().Done():
		}
		_, _ = io.WriteString(w, `]}`)
	}))
	defer srv.Close()
	defer close(unblock)

	lim := creditLimiter(t, 1000, 2)
	client := &http.Client{Transport: &zohoquota.Transport{Base: srv.Client().Transport, Limiter: lim}}

	resp, err := get(t, client, srv.URL+"/crm/v8/Leads")
	require.NoError(t, err)
	assert.Equal(t, 1, lim.Usage().InFlight, "slot released before the body was closed")

	resp2, err := get(t, client, srv.URL+"/crm/v8/Leads")
	require.NoError(t, err)
	assert.Equal(t, 2, lim.Usage().InFlight)

	require.NoError(t, resp.Body.Close())
	assert.Equal(t, 1, lim.Usage().InFlight, "slot not released by Close")
	require.NoError(t, resp2.Body.Close())
	assert.Equal(t, 0, lim.Usage().InFlight)
	assert.Equal(t, 2, lim.Usage().Used)
}

// TestTransportSlotWaits: with every slot held, the next call waits (it is not
// refused) and goes out as soon as a body is closed.
func TestTransportSlotWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := creditLimiter(t, 1000, 1)
		pr, pw := io.Pipe()
		first := true
		zoho := &fakeZoho{handle: func(req *http.Request, _ []byte) *http.Response {
			if first {
				first = false
				r := reply(req, http.StatusOK, "")
				r.Body = pr
				return r
			}
			return ok(req, nil)
		}}
		client := &http.Client{Transport: &zohoquota.Transport{Base: zoho, Limiter: lim}}

		resp1, err := get(t, client, leadsURL)
		require.NoError(t, err)

		var done atomic.Bool
		go func() {
			resp, err := get(t, client, leadsURL)
			if assert.NoError(t, err) {
				drainClose(t, resp)
			}
			done.Store(true)
		}()
		synctest.Wait()
		assert.False(t, done.Load(), "second call went out while the only slot was held")
		assert.EqualValues(t, 1, zoho.hits.Load())

		pw.Close()
		drainClose(t, resp1) // EOF alone releases the slot
		synctest.Wait()
		assert.True(t, done.Load())
		assert.EqualValues(t, 2, zoho.hits.Load())
		assert.Equal(t, 0, lim.Usage().InFlight)
	})
}

func TestTransportReleasesAtEOF(t *testing.T) {
	lim := creditLimiter(t, 1000, 5)
	zoho := &fakeZoho{handle: ok}
	client := &http.Client{Transport: &zohoquota.Transport{Base: zoho, Limiter: lim}}
	resp, err := get(t, client, leadsURL)
	require.NoError(t, err)
	_, err = io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, 0, lim.Usage().InFlight, "slot held after EOF")
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, 0, lim.Usage().InFlight)
}

// TestTransportServer429 checks a 429 marks the quota exhausted: the caller gets a
// *QuotaError through *url.Error, and later calls fail locally, never reaching the
// server, until Retry-After has passed.
func TestTransportServer429(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := creditLimiter(t, 1000, 10)
		var refuse atomic.Bool
		refuse.Store(true)
		zoho := &fakeZoho{handle: func(req *http.Request, _ []byte) *http.Response {
			if refuse.Load() {
				refuse.Store(false) // the server would answer again; the transport must not ask
				return reply(req, http.StatusTooManyRequests,
					`{"code":"TOO_MANY_REQUESTS","details":{},"message":"too many requests","status":"error"}`,
					"Content-Type", "application/json", "Retry-After", "30")
			}
			return ok(req, nil)
		}}
		var refusals []bool
		client := &http.Client{Transport: &zohoquota.Transport{Base: zoho, Limiter: lim,
			OnRefusal: func(_ *http.Request, err *zohoquota.QuotaError) { refusals = append(refusals, err.Server) }}}

		start := time.Now()
		_, err := get(t, client, leadsURL)
		var uerr *url.Error
		require.ErrorAs(t, err, &uerr)
		var qe *zohoquota.QuotaError
		require.ErrorAs(t, err, &qe)
		assert.ErrorIs(t, err, zohoquota.ErrQuotaExhausted)
		assert.True(t, qe.Server)
		assert.WithinDuration(t, start.Add(30*time.Second), qe.ResetAt, 0)
		assert.Equal(t, 0, lim.Usage().InFlight)

		for range 5 {
			_, err := get(t, client, leadsURL)
			require.ErrorAs(t, err, &qe)
			assert.False(t, qe.Server, "refused by the server, want a local refusal")
			assert.WithinDuration(t, start.Add(30*time.Second), qe.ResetAt, 0)
		}
		assert.EqualValues(t, 1, zoho.hits.Load(), "calls reached the server while the quota was exhausted")
		assert.Equal(t, []bool{true, false, false, false, false, false}, refusals)

		time.Sleep(30 * time.Second)
		resp, err := get(t, client, leadsURL)
		require.NoError(t, err)
		drainClose(t, resp)
		assert.EqualValues(t, 2, zoho.hits.Load())
	})
}

// TestTransportRefusalBlock checks how long each kind of server refusal blocks.
func TestTransportRefusalBlock(t *testing.T) {
	tests := []struct {
		name   string
		window zohoquota.Window
		url    string
		status int
		body   string
		hdr    []string
		want   time.Duration // after the start of the bubble: 2000-01-01 00:00 UTC
	}{
		{"retry-after seconds", zohoquota.Rolling(24 * time.Hour), leadsURL, 429, "", []string{"Retry-After", "120"}, 2 * time.Minute},
		{"retry-after date", zohoquota.Rolling(24 * time.Hour), leadsURL, 429, "",
			[]string{"Retry-After", "Sat, 01 Jan 2000 00:10:00 GMT"}, 10 * time.Minute},
		{"retry-after capped at the window", zohoquota.Rolling(24 * time.Hour), leadsURL, 429, "",
			[]string{"Retry-After", "99999999"}, 24 * time.Hour},
		{"retry-after past int64 capped too", zohoquota.Rolling(24 * time.Hour), leadsURL, 429, "",
			[]string{"Retry-After", "99999999999999999999"}, 24 * time.Hour},
		{"retry-after max int64 capped", zohoquota.Rolling(24 * time.Hour), leadsURL, 429, "",
			[]string{"Retry-After", "9223372036854775807"}, 24 * time.Hour},
		{"negative retry-after ignored", zohoquota.Rolling(24 * time.Hour), leadsURL, 429, "",
			[]string{"Retry-After", "-1"}, time.Minute},
		{"malformed retry-after ignored", zohoquota.Rolling(24 * time.Hour), leadsURL, 429, "",
			[]string{"Retry-After", "soon"}, time.Minute},
		{"429 with credits left: concurrency, cooldown", zohoquota.Rolling(24 * time.Hour), leadsURL, 429, "",
			[]string{zohoquota.HeaderCreditsRemaining, "400"}, time.Minute},
		{"429 while the ledger has credits: cooldown", zohoquota.Rolling(24 * time.Hour), leadsURL, 429, "", nil, time.Minute},
		{"429 with no credits left: next free unit", zohoquota.Rolling(24 * time.Hour), leadsURL, 429, "",
			[]string{zohoquota.HeaderCreditsRemaining, "0"}, 24*time.Hour + time.Minute},
		{"v1 4820 on HTTP 200: next midnight PST", zohoquota.Daily(nil),
			"https://crm.zoho.com/crm/private/json/Leads/getRecords", 200,
			`{"response":{"uri":"/crm/private/json/Leads/getRecords","error":{"code":"4820","message":"Rate limit exceeded"}}}`,
			nil, 8 * time.Hour},
		{"v1 4421", zohoquota.Daily(nil), "https://crm.zoho.com/crm/private/json/Leads/insertRecords", 200,
			`{"response":{"error":{"code":4421,"message":"Number of API calls exceeded"}}}`, nil, 8 * time.Hour},
		{"v2 400 TOO_MANY_REQUESTS", zohoquota.Rolling(24 * time.Hour), leadsURL, 400,
			`{"code":"TOO_MANY_REQUESTS","details":{},"message":"x","status":"error"}`,
			[]string{"Content-Type", "application/json;charset=UTF-8"}, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				lim, err := zohoquota.NewLimiter(zohoquota.Quota{Limit: 1000, Window: tt.window})
				require.NoError(t, err)
				zoho := &fakeZoho{handle: func(req *http.Request, _ []byte) *http.Response {
					return reply(req, tt.status, tt.body, tt.hdr...)
				}}
				client := &http.Client{Transport: &zohoquota.Transport{Base: zoho, Limiter: lim}}
				_, err = get(t, client, tt.url)
				var qe *zohoquota.QuotaError
				require.ErrorAs(t, err, &qe)
				assert.True(t, qe.Server)
				assert.WithinDuration(t, start.Add(tt.want), qe.ResetAt, 0, "blocked for %v", qe.ResetAt.Sub(start))
				assert.WithinDuration(t, start.Add(tt.want), lim.Usage().ResetAt, 0)
				assert.False(t, lim.Allow(), "the limiter still admits calls after a refusal")
			})
		})
	}
}

// TestTransportNotRefusals: error bodies that are not quota refusals reach the
// caller byte for byte, even when the transport looked into them.
func TestTransportNotRefusals(t *testing.T) {
	long := `{"response":{"result":{"Leads":{"row":[` + strings.Repeat(`{"no":"1","FL":[{"val":"LEADID","content":"1"}]},`, 100) + `{}]}}}}`
	tests := []struct {
		name, url string
		status    int
		body      string
	}{
		{"v2 400 other code", leadsURL, 400, `{"code":"LIMIT_EXCEEDED","details":{"limit":100},"message":"more than 100 records","status":"error"}`},
		{"v2 400 not JSON", leadsURL, 400, `<html>bad</html>`},
		{"v1 success longer than the sniff", "https://crm.zoho.com/crm/private/json/Leads/getRecords", 200, long},
		{"v1 other error", "https://crm.zoho.com/crm/private/json/Leads/getRecords", 200,
			`{"response":{"error":{"code":"4600","message":"Unable to process your request."}}}`},
		{"v1 not JSON", "https://crm.zoho.com/crm/private/json/Leads/getRecords", 200, `not json`},
		{"empty body", leadsURL, 400, ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := creditLimiter(t, 1000, 5)
			zoho := &fakeZoho{handle: func(req *http.Request, _ []byte) *http.Response {
				return reply(req, tt.status, tt.body, "Content-Type", "application/json")
			}}
			client := &http.Client{Transport: &zohoquota.Transport{Base: zoho, Limiter: lim}}
			resp, err := get(t, client, tt.url)
			require.NoError(t, err)
			got, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			assert.Equal(t, tt.body, string(got))
			assert.Equal(t, tt.status, resp.StatusCode)
			assert.True(t, lim.Allow(), "a non-refusal blocked the quota")
			assert.Equal(t, 0, lim.Usage().InFlight)
		})
	}
}

func TestTransportSyncsRemaining(t *testing.T) {
	tests := []struct {
		name     string
		hdr      []string
		wantUsed int
		wantLog  string
	}{
		{"credits header", []string{zohoquota.HeaderCreditsRemaining, "300"}, 700, ""},
		{"legacy day header", []string{zohoquota.HeaderDayRemaining, " 250 "}, 750, ""},
		{"credits header wins", []string{zohoquota.HeaderCreditsRemaining, "100", zohoquota.HeaderDayRemaining, "900"}, 900, ""},
		{"figure above the ledger frees nothing", []string{zohoquota.HeaderCreditsRemaining, "5000"}, 1, ""},
		{"malformed ignored", []string{zohoquota.HeaderCreditsRemaining, "lots"}, 1, "malformed quota header"},
		{"negative ignored", []string{zohoquota.HeaderCreditsRemaining, "-3"}, 1, "malformed quota header"},
		{"malformed credits, legacy used", []string{zohoquota.HeaderCreditsRemaining, "lots", zohoquota.HeaderDayRemaining, "600"},
			400, "malformed quota header"},
		{"none", nil, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			lim := creditLimiter(t, 1000, 5)
			zoho := &fakeZoho{handle: func(req *http.Request, _ []byte) *http.Response {
				return reply(req, http.StatusOK, `{}`, tt.hdr...)
			}}
			client := &http.Client{Transport: &zohoquota.Transport{Base: zoho, Limiter: lim,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))}}
			resp, err := get(t, client, leadsURL)
			require.NoError(t, err)
			drainClose(t, resp)
			assert.Equal(t, tt.wantUsed, lim.Usage().Used)
			if tt.wantLog == "" {
				assert.Empty(t, logs.String())
			} else {
				assert.Contains(t, logs.String(), tt.wantLog)
			}
		})
	}
}

func TestParseRemaining(t *testing.T) {
	tests := []struct {
		name      string
		hdr       []string
		want      int
		wantFound bool
		wantErr   string
	}{
		{"absent", nil, 0, false, ""},
		{"credits", []string{"X-Api-Credits-Remaining", "42"}, 42, true, ""},
		{"zero", []string{"X-API-CREDITS-REMAINING", "0"}, 0, true, ""},
		{"legacy", []string{"X-RATELIMIT-DAY-REMAINING", "7"}, 7, true, ""},
		{"not a number", []string{"X-API-CREDITS-REMAINING", "4.5"}, 0, false,
			`zohoquota: header X-API-CREDITS-REMAINING: "4.5": need a whole number 0 or more`},
		{"negative", []string{"X-RATELIMIT-DAY-REMAINING", "-1"}, 0, false,
			`zohoquota: header X-RATELIMIT-DAY-REMAINING: "-1": need a whole number 0 or more`},
		{"malformed credits, valid legacy", []string{"X-API-CREDITS-REMAINING", "abc", "X-RATELIMIT-DAY-REMAINING", "5"}, 5, true,
			`zohoquota: header X-API-CREDITS-REMAINING: "abc": need a whole number 0 or more`},
		{"valid credits, legacy not read", []string{"X-API-CREDITS-REMAINING", "9", "X-RATELIMIT-DAY-REMAINING", "abc"}, 9, true, ""},
		{"both malformed", []string{"X-API-CREDITS-REMAINING", "abc", "X-RATELIMIT-DAY-REMAINING", "-2"}, 0, false,
			"zohoquota: header X-API-CREDITS-REMAINING: \"abc\": need a whole number 0 or more\n" +
				`zohoquota: header X-RATELIMIT-DAY-REMAINING: "-2": need a whole number 0 or more`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := make(http.Header)
			for i := 0; i+1 < len(tt.hdr); i += 2 {
				h.Set(tt.hdr[i], tt.hdr[i+1])
			}
			got, found, err := zohoquota.ParseRemaining(h)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.want, got, "ParseRemaining(%v)", h)
			assert.Equal(t, tt.wantFound, found)
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"0", 0, false},
		{" 90 ", 90 * time.Second, false},
		{"Fri, 01 Mar 2024 12:05:00 GMT", 5 * time.Minute, false},
		{"Fri, 01 Mar 2024 11:00:00 GMT", 0, false},
		{"99999999999999999", time.Duration(1<<63 - 1), false},
		{"9223372036854775807", time.Duration(1<<63 - 1), false},
		{"99999999999999999999", time.Duration(1<<63 - 1), false}, // past int64: still all digits
		{"007", 7 * time.Second, false},
		{"-5", 0, true},
		{"+5", 0, true},
		{"5s", 0, true},
		{"1e9", 0, true},
		{"Fri, 32 Mar 2024 12:05:00 GMT", 0, true},
		{"1.5", 0, true},
		{"tomorrow", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		got, err := zohoquota.ParseRetryAfter(tt.in, now)
		if tt.wantErr {
			assert.ErrorContains(t, err, "need seconds 0 or more, or an HTTP date", "ParseRetryAfter(%q)", tt.in)
			continue
		}
		require.NoError(t, err, "ParseRetryAfter(%q)", tt.in)
		assert.Equal(t, tt.want, got, "ParseRetryAfter(%q)", tt.in)
	}
}

// unreplayable is a request body without GetBody: it can be read once.
type unreplayable struct{ io.Reader }

func (unreplayable) Close() error { return nil }

func TestTransportRetries(t *testing.T) {
	tests := []struct {
		name        string
		retries     int
		maxWait     time.Duration
		deadline    time.Duration // 0: none
		replayable  bool
		retryAfter  string
		wantHits    int64
		wantOK      bool
		wantDLinErr bool
	}{
		{"replayable retried", 2, 0, 0, true, "5", 2, true, false},
		{"no retries by default", 0, 0, 0, true, "5", 1, false, false},
		{"non-replayable never retried", 3, 0, 0, false, "5", 1, false, false},
		{"wait above MaxRetryWait returned", 3, time.Minute, 0, true, "120", 1, false, false},
		{"wait past the deadline returned", 3, time.Hour, 10 * time.Second, true, "30", 1, false, true},
		{"wait within the deadline retried", 3, time.Hour, time.Minute, true, "30", 2, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const payload = `{"data":[{"Last_Name":"A"}]}`
				lim := creditLimiter(t, 1000, 5)
				var bodies []string
				zoho := &fakeZoho{handle: func(req *http.Request, body []byte) *http.Response {
					bodies = append(bodies, string(body))
					if len(bodies) == 1 {
						return reply(req, http.StatusTooManyRequests, "", "Retry-After", tt.retryAfter)
					}
					return reply(req, http.StatusCreated, `{"data":[]}`)
				}}
				client := &http.Client{Transport: &zohoquota.Transport{Base: zoho, Limiter: lim,
					MaxRetries: tt.retries, MaxRetryWait: tt.maxWait}}
				ctx := t.Context()
				if tt.deadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.deadline)
					defer cancel()
				}
				var body io.Reader = strings.NewReader(payload) // NewRequest sets GetBody
				if !tt.replayable {
					body = unreplayable{strings.NewReader(payload)}
				}
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, leadsURL, body)
				require.NoError(t, err)
				resp, err := client.Do(req)
				assert.Equal(t, tt.wantHits, zoho.hits.Load())
				for _, b := range bodies {
					assert.Equal(t, payload, b, "a retry sent a different body")
				}
				if tt.wantOK {
					require.NoError(t, err)
					drainClose(t, resp)
					return
				}
				var qe *zohoquota.QuotaError
				require.ErrorAs(t, err, &qe)
				assert.True(t, qe.Server)
				assert.Equal(t, tt.wantDLinErr, !qe.Deadline.IsZero())
			})
		})
	}
}

// TestTransportRetryLocal: a call the ledger refuses is retried once the window
// frees up, without reading its body: even a body that cannot be replayed is sent
// exactly once.
func TestTransportRetryLocal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim, err := zohoquota.NewLimiter(zohoquota.Quota{Limit: 1, Window: zohoquota.Rolling(time.Minute)})
		require.NoError(t, err)
		zoho := &fakeZoho{handle: ok}
		client := &http.Client{Transport: &zohoquota.Transport{Base: zoho, Limiter: lim, MaxRetries: 1, MaxRetryWait: 5 * time.Minute}}
		resp, err := get(t, client, leadsURL)
		require.NoError(t, err)
		drainClose(t, resp)

		start := time.Now()
		req, err := http.NewRequest(http.MethodPost, leadsURL, unreplayable{strings.NewReader(`{"data":[{}]}`)})
		require.NoError(t, err)
		resp, err = client.Do(req)
		require.NoError(t, err)
		drainClose(t, resp)
		assert.EqualValues(t, 2, zoho.hits.Load())
		waited := time.Since(start)
		assert.True(t, waited > 0 && waited <= 2*time.Minute, "waited %v", waited)
	})
}

func TestTransportLocalRefusalClosesBody(t *testing.T) {
	lim := creditLimiter(t, 1, 5)
	require.True(t, lim.Allow())
	zoho := &fakeZoho{handle: ok}
	tr := &zohoquota.Transport{Base: zoho, Limiter: lim}
	body := &closeCounter{Reader: strings.NewReader(`{}`)}
	req, err := http.NewRequest(http.MethodPost, leadsURL, body)
	require.NoError(t, err)
	_, err = tr.RoundTrip(req)
	require.ErrorIs(t, err, zohoquota.ErrQuotaExhausted)
	assert.EqualValues(t, 1, body.closed.Load(), "RoundTrip must close the body of a request it refuses")
	assert.EqualValues(t, 0, zoho.hits.Load())
}

func TestTransportBaseErrors(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantUsed int
	}{
		{"dial error refunded", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, 0},
		{"dns error refunded", &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "x"}}, 0},
		{"read error kept spent", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset")}, 5},
		{"unexpected EOF kept spent", io.ErrUnexpectedEOF, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := creditLimiter(t, 1000, 5)
			base := roundTripFunc(func(req *http.Request) (*http.Response, error) {
				return nil, fmt.Errorf("send: %w", tt.err)
			})
			client := &http.Client{Transport: &zohoquota.Transport{Base: base, Limiter: lim,
				Cost: func(*http.Request) int { return 5 }}}
			_, err := get(t, client, leadsURL)
			require.ErrorIs(t, err, tt.err)
			u := lim.Usage()
			assert.Equal(t, tt.wantUsed, u.Used)
			assert.Equal(t, 0, u.InFlight)
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

func TestTransportCompositeSlots(t *testing.T) {
	lim := creditLimiter(t, 1000, 5)
	var inFlight int
	zoho := &fakeZoho{handle: func(req *http.Request, _ []byte) *http.Response {
		inFlight = lim.Usage().InFlight
		return ok(req, nil)
	}}
	client := &http.Client{Transport: &zohoquota.Transport{Base: zoho, Limiter: lim, Cost: zohoquota.CreditCost,
		Slots: zohoquota.CompositeSlots}}
	req, err := http.NewRequest(http.MethodPost, "https://www.zohoapis.com/crm/v8/__composite_requests",
		strings.NewReader(`{"rollback_on_fail":true,"__composite_requests":[]}`))
	require.NoError(t, err)
	resp, err := client.Do(req)
	require.NoError(t, err)
	drainClose(t, resp)
	assert.Equal(t, 5, inFlight)
	assert.Equal(t, 2, lim.Usage().Used, "composite with rollback costs 2")

	// More slots than the edition has is an error, not a wait forever.
	small := creditLimiter(t, 1000, 2)
	tr := &zohoquota.Transport{Base: zoho, Limiter: small, Slots: zohoquota.CompositeSlots}
	req, err = http.NewRequest(http.MethodPost, "https://www.zohoapis.com/crm/v8/__composite_requests", strings.NewReader(`{}`))
	require.NoError(t, err)
	_, err = tr.RoundTrip(req)
	assert.ErrorContains(t, err, "5 concurrency slots: need 1 to 2")
}

// TestTransportCostFromBody: inserting n records costs ceil(n/10) credits, counted
// through GetBody, and the body still reaches the server whole.
func TestTransportCostFromBody(t *testing.T) {
	for _, n := range []int{1, 9, 10, 11, 55, 99, 100} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			lim := creditLimiter(t, 1000, 5)
			payload := recordsBody(n)
			zoho := &fakeZoho{handle: func(req *http.Request, body []byte) *http.Response {
				assert.Equal(t, payload, string(body), "the body reached the server changed")
				return reply(req, http.StatusCreated, `{}`)
			}}
			client := &http.Client{Transport: &zohoquota.Transport{Base: zoho, Limiter: lim, Cost: zohoquota.CreditCost}}
			resp, err := client.Post(leadsURL, "application/json", strings.NewReader(payload))
			require.NoError(t, err)
			drainClose(t, resp)
			assert.Equal(t, (n+9)/10, lim.Usage().Used, "%d records", n)
		})
	}
}

func TestTransportOnResponse(t *testing.T) {
	lim := creditLimiter(t, 1000, 5)
	zoho := &fakeZoho{handle: func(req *http.Request, _ []byte) *http.Response {
		return reply(req, http.StatusTooManyRequests, "")
	}}
	var statuses []int
	client := &http.Client{Transport: &zohoquota.Transport{Base: zoho, Limiter: lim,
		OnResponse: func(resp *http.Response) { statuses = append(statuses, resp.StatusCode) }}}
	_, err := get(t, client, leadsURL)
	require.ErrorIs(t, err, zohoquota.ErrQuotaExhausted)
	assert.Equal(t, []int{429}, statuses)
}

func TestTransportNilLimiter(t *testing.T) {
	tr := &zohoquota.Transport{Base: &fakeZoho{handle: ok}}
	req, err := http.NewRequest(http.MethodGet, leadsURL, nil)
	require.NoError(t, err)
	_, err = tr.RoundTrip(req)
	assert.EqualError(t, err, "zohoquota: Transport.Limiter is nil: need a limiter")
}

// TestTransportConcurrent hammers one transport from many goroutines: the server
// never sees more calls in flight than the concurrency cap, and every credit is
// accounted for.
func TestTransportConcurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const conc, calls = 3, 200
		lim := creditLimiter(t, 10_000, conc)
		var mu sync.Mutex
		inFlight, peak := 0, 0
		zoho := &fakeZoho{handle: func(req *http.Request, _ []byte) *http.Response {
			mu.Lock()
			inFlight++
			peak = max(peak, inFlight)
			mu.Unlock()
			time.Sleep(10 * time.Millisecond)
			r := reply(req, http.StatusOK, `{"data":[]}`)
			r.Body = &onClose{ReadCloser: r.Body, f: func() { mu.Lock(); inFlight--; mu.Unlock() }}
			return r
		}}
		client := &http.Client{Transport: &zohoquota.Transport{Base: zoho, Limiter: lim}}
		var wg sync.WaitGroup
		for range calls {
			wg.Go(func() {
				resp, err := get(t, client, leadsURL)
				if assert.NoError(t, err) {
					time.Sleep(5 * time.Millisecond)
					drainClose(t, resp)
				}
			})
		}
		wg.Wait()
		assert.LessOrEqual(t, peak, conc)
		assert.Equal(t, conc, peak)
		assert.Equal(t, calls, lim.Usage().Used)
	})
}

// onClose calls f when the body is read to EOF or closed: the end of a call for
// the server, which has then sent all of its response.
type onClose struct {
	io.ReadCloser
	once sync.Once
	f    func()
}

func (b *onClose) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.once.Do(b.f)
	}
	return n, err
}

func (b *onClose) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.f)
	return err
}

// BenchmarkTransportOverhead compares a call through Transport with the bare
// in-memory RoundTripper it wraps.
func BenchmarkTransportOverhead(b *testing.B) {
	base := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody, Request: req}, nil
	})
	bodied := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("{}")), Request: req}, nil
	})
	req, err := http.NewRequest(http.MethodGet, leadsURL, nil)
	if err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, rt http.RoundTripper) {
		b.ReportAllocs()
		for b.Loop() {
			resp, err := rt.RoundTrip(req)
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
		}
	}
	newLimiter := func(b *testing.B) *zohoquota.Limiter {
		l, err := zohoquota.NewLimiter(zohoquota.Quota{Limit: 1 << 40, Window: zohoquota.Rolling(24 * time.Hour), Concurrency: 25})
		if err != nil {
			b.Fatal(err)
		}
		return l
	}
	b.Run("bare", func(b *testing.B) { run(b, bodied) })
	b.Run("transport", func(b *testing.B) { run(b, &zohoquota.Transport{Base: bodied, Limiter: newLimiter(b)}) })
	b.Run("transport-nobody", func(b *testing.B) { run(b, &zohoquota.Transport{Base: base, Limiter: newLimiter(b)}) })
	b.Run("transport-creditcost", func(b *testing.B) {
		run(b, &zohoquota.Transport{Base: bodied, Limiter: newLimiter(b), Cost: zohoquota.CreditCost})
	})
}

// TestTransportLogsNoToken: v1 calls carry the authtoken in the query; logs leave
// the query out. A Base that sets no resp.Request must not trip the transport.
func TestTransportLogsNoToken(t *testing.T) {
	var logs bytes.Buffer
	lim, err := zohoquota.NewLimiter(zohoquota.Quota{Limit: 1000, Window: zohoquota.Daily(nil)})
	require.NoError(t, err)
	base := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		resp := reply(req, http.StatusOK, `{"response":{"error":{"code":"4820","message":"limit"}}}`,
			zohoquota.HeaderDayRemaining, "n/a")
		resp.Request = nil
		return resp, nil
	})
	client := &http.Client{Transport: &zohoquota.Transport{Base: base, Limiter: lim,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}}
	_, err = get(t, client, "https://crm.zoho.com/crm/private/json/Leads/getRecords?authtoken=s3cr3t&scope=crmapi")
	require.ErrorIs(t, err, zohoquota.ErrQuotaExhausted)
	assert.Contains(t, logs.String(), "crm.zoho.com/crm/private/json/Leads/getRecords")
	assert.NotContains(t, logs.String(), "s3cr3t")
}

// TestTransportSubConcurrency: complex calls also wait for a SubLimiter slot;
// simple calls do not.
func TestTransportSubConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := zohoquota.NewMemoryStore()
		lim, err := zohoquota.NewLimiter(zohoquota.Quota{Limit: 1000, Window: zohoquota.Rolling(24 * time.Hour), Concurrency: 15},
			zohoquota.WithStore(store), zohoquota.WithKey("org"))
		require.NoError(t, err)
		sub, err := zohoquota.NewLimiter(zohoquota.Quota{Limit: 1, Window: zohoquota.Rolling(24 * time.Hour), Concurrency: 1},
			zohoquota.WithStore(store), zohoquota.WithKey("org-complex"))
		require.NoError(t, err)
		pr, pw := io.Pipe()
		var calls atomic.Int32
		zoho := &fakeZoho{handle: func(req *http.Request, _ []byte) *http.Response {
			r := reply(req, http.StatusOK, `{}`)
			if calls.Add(1) == 1 {
				r.Body = pr
			}
			return r
		}}
		client := &http.Client{Transport: &zohoquota.Transport{Base: zoho, Limiter: lim, SubLimiter: sub}}
		complexURL := leadsURL + "?cvid=1&fields=Last_Name"

		first, err := get(t, client, complexURL)
		require.NoError(t, err)
		var done atomic.Bool
		go func() {
			resp, err := get(t, client, complexURL)
			if assert.NoError(t, err) {
				drainClose(t, resp)
			}
			done.Store(true)
		}()
		synctest.Wait()
		assert.False(t, done.Load(), "a second complex call went out with the only sub slot held")

		resp, err := get(t, client, leadsURL) // simple: not held up
		require.NoError(t, err)
		drainClose(t, resp)
		assert.Equal(t, 1, sub.Usage().InFlight)
		assert.Equal(t, 1, lim.Usage().InFlight)

		pw.Close()
		drainClose(t, first)
		synctest.Wait()
		assert.True(t, done.Load())
		assert.Equal(t, 0, sub.Usage().InFlight)
		assert.Equal(t, 0, lim.Usage().InFlight)
		assert.Equal(t, 0, sub.Usage().Used, "the sub limiter spent units")
		assert.Equal(t, 3, lim.Usage().Used)
	})
}
