package crmsim

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every test here runs in a synctest bubble: time is fake (the bubble starts
// at 2000-01-01 00:00:00 UTC) and time.Sleep advances it exactly.

func sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }

func assertTooMany(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	require.Equal(t, http.StatusTooManyRequests, rec.Code, rec.Body.String())
	body := decode(t, rec)
	assert.Equal(t, "TOO_MANY_REQUESTS", body["code"])
	assert.Equal(t, map[string]any{}, body["details"])
	assert.Equal(t, "error", body["status"])
	assert.NotEmpty(t, body["message"])
	assert.Len(t, body, 4)
}

func TestCreditsFreeExactly24HoursLater(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newV8(t, func(c *Config) { c.CreditLimit = 10 })
		sleepUntil(time.Date(2000, 1, 1, 20, 0, 0, 0, time.UTC)) // noon PST
		spent := time.Now()

		rec := call(s, http.MethodPost, "/crm/v8/Leads", tok, leads(100)) // 10 credits
		require.Equal(t, http.StatusCreated, rec.Code)
		assert.Equal(t, 10, s.CreditsUsed())

		rec = call(s, http.MethodPost, "/crm/v8/Leads", tok, leads(1))
		assertTooMany(t, rec)
		assert.Equal(t, 10, s.CreditsUsed(), "a refused call is not charged")
		assert.Len(t, s.Records("Leads"), 100, "a refused call is not processed")

		for _, at := range []time.Time{
			time.Date(2000, 1, 2, 0, 0, 1, 0, time.UTC), // past midnight UTC
			time.Date(2000, 1, 2, 8, 0, 1, 0, time.UTC), // past midnight PST
			spent.Add(24*time.Hour - time.Nanosecond),
		} {
			sleepUntil(at)
			assertTooMany(t, call(s, http.MethodGet, "/crm/v8/Leads?fields=Last_Name", tok, nil))
		}
		sleepUntil(spent.Add(24 * time.Hour))
		assert.Zero(t, s.CreditsUsed())
		rec = call(s, http.MethodGet, "/crm/v8/Leads?fields=Last_Name", tok, nil)
		assert.Equal(t, http.StatusOK, rec.Code)

		st := s.Stats()
		assert.Equal(t, 4, st.Rejected429)
		assert.Equal(t, 4, st.RejectedCredits)
		assert.Equal(t, 4, st.ByCode["TOO_MANY_REQUESTS"])
		assert.Equal(t, 11, st.CreditsTotal)
	})
}

func TestCreditsFreeOneSpendAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newV8(t, func(c *Config) { c.CreditLimit = 10 })
		get := func() int { return call(s, http.MethodGet, "/crm/v8/Leads?fields=Last_Name", tok, nil).Code }
		t0 := time.Now()
		for range 5 {
			require.Equal(t, http.StatusNoContent, get())
		}
		time.Sleep(time.Hour)
		for range 5 {
			require.Equal(t, http.StatusNoContent, get())
		}
		require.Equal(t, http.StatusTooManyRequests, get())

		sleepUntil(t0.Add(24 * time.Hour))
		assert.Equal(t, 5, s.CreditsUsed())
		for range 5 {
			require.Equal(t, http.StatusNoContent, get())
		}
		require.Equal(t, http.StatusTooManyRequests, get())
		sleepUntil(t0.Add(25 * time.Hour))
		assert.Equal(t, 5, s.CreditsUsed())
		assert.Equal(t, http.StatusNoContent, get())
	})
}

func TestCreditsThatDoNotFitAreRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newV8(t, func(c *Config) { c.CreditLimit = 10 })
		require.Equal(t, http.StatusCreated, call(s, http.MethodPost, "/crm/v8/Leads", tok, leads(50)).Code) // 5
		assertTooMany(t, call(s, http.MethodPost, "/crm/v8/Leads", tok, leads(60)))                          // 6 > 5 left
		assert.Equal(t, http.StatusCreated, call(s, http.MethodPost, "/crm/v8/Leads", tok, leads(50)).Code)
	})
}

// runConcurrently starts fns together; it returns once every one of them is
// either finished or durably blocked (holding its slot).
func runConcurrently(wg *sync.WaitGroup, fns ...func()) {
	for _, f := range fns {
		wg.Go(f)
	}
	synctest.Wait()
}

func TestConcurrencyOverCapIsRefusedImmediately(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newV8(t, func(c *Config) {
			c.Concurrency = 2
			c.Latency = time.Second
		})
		s.Seed("Leads", 5)
		recs := make([]*httptest.ResponseRecorder, 4)
		var wg sync.WaitGroup
		start := time.Now()
		get := func(i int, token string) func() {
			return func() { recs[i] = call(s, http.MethodGet, "/crm/v8/Leads?fields=Last_Name", token, nil) }
		}
		runConcurrently(&wg, get(0, "a"), get(1, "a"))
		runConcurrently(&wg, get(2, "a")) // a third call for token a: over the cap
		require.NotNil(t, recs[2], "refused at once, not queued")
		assertTooMany(t, recs[2])
		assert.Equal(t, start, time.Now(), "no time passed")
		runConcurrently(&wg, get(3, "b")) // another token is not affected
		wg.Wait()
		assert.Equal(t, http.StatusOK, recs[0].Code)
		assert.Equal(t, http.StatusOK, recs[1].Code)
		assert.Equal(t, http.StatusOK, recs[3].Code)
		assert.Equal(t, time.Second, time.Since(start), "admitted calls hold their slot for Latency")

		// Slots are free again.
		assert.Equal(t, http.StatusOK, call(s, http.MethodGet, "/crm/v8/Leads?fields=Last_Name", "a", nil).Code)
		st := s.Stats()
		assert.Equal(t, 2, st.MaxInFlightPerToken["a"])
		assert.Equal(t, 1, st.MaxInFlightPerToken["b"])
		assert.Equal(t, 3, st.MaxInFlight)
		assert.Equal(t, 1, st.RejectedConcurrency)
		assert.Zero(t, st.RejectedCredits)
		assert.Equal(t, 4, st.CreditsTotal, "the refused call is not charged")
	})
}

func TestSubConcurrencyForComplexCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newV8(t, func(c *Config) {
			c.SubConcurrency = 1
			c.Latency = time.Second
		})
		s.Seed("Leads", 5)
		recs := make([]*httptest.ResponseRecorder, 5)
		var wg sync.WaitGroup
		do := func(i int, method, target string, body any) func() {
			return func() { recs[i] = call(s, method, target, tok, body) }
		}
		runConcurrently(&wg, do(0, http.MethodPost, "/crm/v8/Leads", leads(11))) // complex
		runConcurrently(&wg,
			do(1, http.MethodPost, "/crm/v8/Leads", leads(11)),                                // complex: refused
			do(2, http.MethodGet, "/crm/v8/Leads?fields=Last_Name&sort_by=Created_Time", nil), // complex: refused
			do(3, http.MethodPost, "/crm/v8/Leads", leads(10)),                                // 10 records is not complex
			do(4, http.MethodGet, "/crm/v8/Leads?fields=Last_Name", nil),                      // plain read
		)
		assertTooMany(t, recs[1])
		assertTooMany(t, recs[2])
		wg.Wait()
		assert.Equal(t, http.StatusCreated, recs[0].Code)
		assert.Equal(t, http.StatusCreated, recs[3].Code)
		assert.Equal(t, http.StatusOK, recs[4].Code)
		st := s.Stats()
		assert.Equal(t, 1, st.MaxSubInFlightPerToken[tok])
		assert.Equal(t, 3, st.MaxInFlightPerToken[tok])
		assert.Equal(t, 2, st.RejectedConcurrency)
	})
}

func TestPageTokenExpiresAfter24Hours(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newV8(t)
		s.Seed("Leads", 300)
		rec := call(s, http.MethodGet, "/crm/v8/Leads?fields=Last_Name", tok, nil)
		require.Equal(t, http.StatusOK, rec.Code)
		tk := decode(t, rec)["info"].(map[string]any)["next_page_token"].(string)
		minted := time.Now()

		sleepUntil(minted.Add(24*time.Hour - time.Second))
		rec = call(s, http.MethodGet, "/crm/v8/Leads?fields=Last_Name&page_token="+tk, tok, nil)
		require.Equal(t, http.StatusOK, rec.Code)

		sleepUntil(minted.Add(24 * time.Hour))
		rec = call(s, http.MethodGet, "/crm/v8/Leads?fields=Last_Name&page_token="+tk, tok, nil)
		require.Equal(t, http.StatusBadRequest, rec.Code)
		b := decode(t, rec)
		assert.Equal(t, "EXPIRED_VALUE", b["code"])
		assert.Equal(t, "page_token", b["details"].(map[string]any)["api_name"])
	})
}

func TestV1DailyCapResetsAtMidnight(t *testing.T) {
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	tests := []struct {
		name      string
		zone      *time.Location
		startAt   time.Time // when the day's requests are spent
		wantReset time.Time
	}{
		{"default PST in winter", nil,
			time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2000, 1, 1, 8, 0, 0, 0, time.UTC)},
		{"default PST ignores daylight saving", nil,
			time.Date(2000, 7, 1, 0, 0, 0, 0, time.UTC), time.Date(2000, 7, 1, 8, 0, 0, 0, time.UTC)},
		{"Los Angeles in summer is PDT", la,
			time.Date(2000, 7, 1, 0, 0, 0, 0, time.UTC), time.Date(2000, 7, 1, 7, 0, 0, 0, time.UTC)},
		{"Los Angeles after 20:00 PST", la,
			time.Date(2000, 1, 2, 4, 30, 0, 0, time.UTC), time.Date(2000, 1, 2, 8, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newV1(t, func(c *Config) {
					c.DailyLimit = 3
					c.Zone = tt.zone
				})
				sleepUntil(tt.startAt)
				get := func() map[string]any {
					return v1Resp(t, v1Call(s, "getRecords", tok, url.Values{}))
				}
				for range 3 {
					resp := get()
					require.Nil(t, resp["error"], "%v", resp)
				}
				resp := get()
				assert.Equal(t, map[string]any{
					"error": map[string]any{
						"code":    "4820",
						"message": `API call cannot be completed as you have exceeded the "rate limit".`,
					},
					"uri": "/crm/private/json/Leads/getRecords",
				}, resp)
				sleepUntil(tt.wantReset.Add(-time.Second))
				assert.Equal(t, "4820", get()["error"].(map[string]any)["code"])
				sleepUntil(tt.wantReset)
				assert.Nil(t, get()["error"], "a new day")
				st := s.Stats()
				assert.Equal(t, 1, st.DailyUsed)
				assert.Equal(t, 2, st.RateLimitedV1)
				assert.Equal(t, 2, st.ByCode["4820"])
			})
		})
	}
}
