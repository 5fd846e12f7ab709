package zohoquota_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zohoquota/zohoquota"
	"github.com/zohoquota/zohoquota/internal/crmsim"
)

// inMemory serves requests straight from a crmsim.Server, without a network, so
// that a whole import runs inside a synctest bubble on fake time.
type inMemory struct{ srv *crmsim.Server }

func (m inMemory) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	m.srv.ServeHTTP(rec, req)
	if req.Body != nil {
		req.Body.Close()
	}
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

// importer sends records to a Zoho CRM in calls of 100 from workers goroutines,
// reading a page between writes, and reports what failed.
type importer struct {
	client  *http.Client
	baseURL string
	token   string
}

func (im importer) do(method, path, body string) error {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body) // sets GetBody: counted and replayable
	}
	req, err := http.NewRequest(method, im.baseURL+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Zoho-oauthtoken "+im.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := im.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	return nil
}

func (im importer) run(t *testing.T, records, workers int) {
	t.Helper()
	batches := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for range workers {
		wg.Go(func() {
			for first := range batches {
				err := im.do(http.MethodPost, "/crm/v8/Leads", leadBatch(first, min(100, records-first)))
				if err == nil {
					err = im.do(http.MethodGet, "/crm/v8/Leads?fields=Last_Name&per_page=1", "")
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for first := 0; first < records; first += 100 {
		batches <- first
	}
	close(batches)
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
}

func leadBatch(first, n int) string {
	var b strings.Builder
	b.WriteString(`{"data":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"Last_Name":"Lead %d","Email":"lead%d@example.com"}`, first+i, first+i)
	}
	b.WriteString(`]}`)
	return b.String()
}

// editionTransport returns a Transport limited to what the edition allows: the
// org's credits, the edition's calls in flight, and 10 complex calls in flight.
func editionTransport(t *testing.T, base http.RoundTripper, q zohoquota.Quota) *zohoquota.Transport {
	t.Helper()
	store := zohoquota.NewMemoryStore()
	lim, err := zohoquota.NewLimiter(q, zohoquota.WithStore(store), zohoquota.WithKey("org"))
	require.NoError(t, err)
	sub, err := zohoquota.NewLimiter(zohoquota.Quota{Limit: 1, Window: q.Window, Concurrency: 10},
		zohoquota.WithStore(store), zohoquota.WithKey("org/complex"))
	require.NoError(t, err)
	return &zohoquota.Transport{Base: base, Limiter: lim, SubLimiter: sub, Cost: zohoquota.CreditCost}
}

// TestCRMSimImport imports 20,000 records into a simulated Professional edition
// org from 40 goroutines: not one call is refused, and the server never has more
// calls in flight than the edition allows (15, of which 10 complex).
func TestCRMSimImport(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const records, workers = 20_000, 40
		q, err := zohoquota.CreditQuota(zohoquota.Professional, 10, 0)
		require.NoError(t, err)
		srv, err := crmsim.New(crmsim.Config{CreditLimit: q.Limit, Concurrency: q.Concurrency, Latency: 300 * time.Millisecond})
		require.NoError(t, err)
		tr := editionTransport(t, inMemory{srv}, q)
		im := importer{client: &http.Client{Transport: tr}, baseURL: "https://www.zohoapis.com", token: "t1"}

		im.run(t, records, workers)

		st := srv.Stats()
		assert.Zero(t, st.Rejected429, "429s: %v", st.ByCode)
		assert.Len(t, srv.Records("Leads"), records)
		assert.LessOrEqual(t, st.MaxInFlight, q.Concurrency)
		assert.Equal(t, q.Concurrency, st.MaxInFlight, "the import never used every slot")
		assert.LessOrEqual(t, st.MaxSubInFlightPerToken["t1"], 10)
		assert.Equal(t, st.CreditsTotal, tr.Limiter.Usage().Used, "the ledger and the server disagree")
		assert.Equal(t, records/10+records/100, st.CreditsTotal)
	})
}

// TestCRMSimImportOverQuota imports more than a Free edition org's 5,000 credits a
// rolling day allow: calls over the quota wait locally for credits to free up,
// and Zoho never answers 429.
func TestCRMSimImportOverQuota(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const records, workers = 50_000, 20 // 5,000 + 500 credits
		q, err := zohoquota.CreditQuota(zohoquota.Free, 1, 0)
		require.NoError(t, err)
		srv, err := crmsim.New(crmsim.Config{CreditLimit: q.Limit, Concurrency: q.Concurrency, Latency: time.Second})
		require.NoError(t, err)
		tr := editionTransport(t, inMemory{srv}, q)
		tr.MaxRetries, tr.MaxRetryWait = 1, 25*time.Hour
		tr.OnRefusal = func(_ *http.Request, err *zohoquota.QuotaError) {
			if err.Server { // say when the ledger and the server disagreed
				t.Errorf("server refusal at %v: %v; server %+v; ledger %+v", time.Now(), err, srv.Stats(), tr.Limiter.Usage())
			}
		}
		im := importer{client: &http.Client{Transport: tr}, baseURL: "https://www.zohoapis.com", token: "t1"}

		start := time.Now()
		im.run(t, records, workers)

		st := srv.Stats()
		assert.Zero(t, st.Rejected429, "429s: %v", st.ByCode)
		assert.Len(t, srv.Records("Leads"), records)
		assert.LessOrEqual(t, st.MaxInFlight, q.Concurrency)
		assert.Equal(t, records/10+records/100, st.CreditsTotal)
		took := time.Since(start)
		assert.True(t, took > 24*time.Hour && took < 25*time.Hour, "import took %v, want a day and a bit", took)
	})
}

// TestCRMSimImportNetwork runs an import over real HTTP on the loopback: slots
// held until bodies are read, through net/http's connection handling.
func TestCRMSimImportNetwork(t *testing.T) {
	const records, workers = 5_000, 25
	q, err := zohoquota.CreditQuota(zohoquota.Standard, 5, 0)
	require.NoError(t, err)
	srv, err := crmsim.Start(crmsim.Config{CreditLimit: q.Limit, Concurrency: q.Concurrency, Latency: 2 * time.Millisecond})
	require.NoError(t, err)
	defer srv.Close()
	tr := editionTransport(t, srv.Client().Transport, q)
	im := importer{client: &http.Client{Transport: tr}, baseURL: srv.URL, token: "t1"}

	im.run(t, records, workers)

	st := srv.Stats()
	assert.Zero(t, st.Rejected429, "429s: %v", st.ByCode)
	assert.Len(t, srv.Records("Leads"), records)
	assert.LessOrEqual(t, st.MaxInFlight, q.Concurrency)
	assert.Equal(t, 0, tr.Limiter.Usage().InFlight)
}

// TestCRMSimV1ImportAcrossMidnight imports through the legacy v1 API more than a
// Free edition org's 1,000 requests a day allow: the calls over the cap wait for
// 00:00 PST locally, and Zoho never answers 4820.
func TestCRMSimV1ImportAcrossMidnight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const calls, rows, workers = 1_500, 10, 20
		q, err := zohoquota.V1Quota(zohoquota.Free, 1)
		require.NoError(t, err)
		srv, err := crmsim.New(crmsim.Config{API: crmsim.V1, DailyLimit: q.Limit, Latency: time.Second})
		require.NoError(t, err)
		lim, err := zohoquota.NewLimiter(q)
		require.NoError(t, err)
		client := &http.Client{Transport: &zohoquota.Transport{Base: inMemory{srv}, Limiter: lim, Cost: zohoquota.V1Cost,
			MaxRetries: 1, MaxRetryWait: 25 * time.Hour}}

		start := time.Now()
		var wg sync.WaitGroup
		next := make(chan int)
		for range workers {
			wg.Go(func() {
				for first := range next {
					var x strings.Builder
					x.WriteString("<Leads>")
					for i := range rows {
						fmt.Fprintf(&x, `<row no="%d"><FL val="Last Name">Lead %d</FL></row>`, i+1, first+i)
					}
					x.WriteString("</Leads>")
					form := url.Values{"authtoken": {"t1"}, "scope": {"crmapi"}, "xmlData": {x.String()}}
					resp, err := client.Post("https://crm.zoho.com/crm/private/json/Leads/insertRecords",
						"application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
					if assert.NoError(t, err) {
						b, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						assert.NotContains(t, string(b), `"error"`)
					}
				}
			})
		}
		for i := range calls {
			next <- i * rows
		}
		close(next)
		wg.Wait()

		st := srv.Stats()
		assert.Zero(t, st.RateLimitedV1, "4820 answers")
		assert.Len(t, srv.Records("Leads"), calls*rows)
		midnightPST := time.Date(2000, 1, 1, 0, 0, 0, 0, zohoquota.PST)
		assert.False(t, time.Now().Before(midnightPST), "the import finished before the day's cap reset")
		assert.Less(t, time.Since(start), 9*time.Hour)
	})
}
