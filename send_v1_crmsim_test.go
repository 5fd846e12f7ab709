package zohoquota_test

import (
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zohoquota/zohoquota"
	"github.com/zohoquota/zohoquota/internal/crmsim"
)

// v1Leads returns n leads with unique emails; the rows in noName lack Last_Name.
func v1Leads(n int, noName map[int]bool) []map[string]string {
	out := make([]map[string]string, n)
	for i := range out {
		out[i] = map[string]string{"Last_Name": fmt.Sprintf("Doe%d", i), "Company": "Acme & Sons", "Email": fmt.Sprintf("lead%d@example.com", i)}
		if noName[i] {
			delete(out[i], "Last_Name")
		}
	}
	return out
}

func v1Sim(t *testing.T, dailyLimit int) *crmsim.Running {
	t.Helper()
	sim, err := crmsim.Start(crmsim.Config{API: crmsim.V1, DailyLimit: dailyLimit})
	require.NoError(t, err)
	t.Cleanup(sim.Close)
	return sim
}

func TestV1WriteCRMSim(t *testing.T) {
	tests := []struct {
		name   string
		n      int
		noName map[int]bool
	}{
		{name: "all rows added", n: 100},
		{name: "one row", n: 1},
		{name: "invalid rows fail alone", n: 10, noName: map[int]bool{0: true, 7: true}},
		{name: "the only row invalid", n: 1, noName: map[int]bool{0: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := v1Sim(t, 10)
			records := v1Leads(tt.n, tt.noName)
			send := zohoquota.V1Write[map[string]string](zohoquota.V1Target{
				Client: sim.Client(), BaseURL: sim.URL, Module: "Leads", AuthToken: "tok"})
			got, err := send(t.Context(), records)
			require.NoError(t, err)
			require.Len(t, got, tt.n)

			byID := map[string]crmsim.Record{}
			for _, r := range sim.Records("Leads") {
				byID[r.ID] = r
			}
			assert.Len(t, byID, tt.n-len(tt.noName))
			for i, res := range got {
				if tt.noName[i] {
					assert.False(t, res.OK(), "record %d", i)
					assert.Equal(t, "4401", res.Code, "record %d", i)
					assert.NotEmpty(t, res.Message)
					continue
				}
				require.True(t, res.OK(), "record %d: %+v", i, res)
				assert.Equal(t, "2000", res.Code)
				stored, ok := byID[res.ID]
				require.True(t, ok, "record %d: id %q not stored", i, res.ID)
				assert.Equal(t, records[i]["Email"], stored.Get("Email"), "record %d: id of another record", i)
				assert.Equal(t, records[i]["Last_Name"], stored.Get("Last_Name"))
				assert.Equal(t, "Acme & Sons", stored.Get("Company"))
			}
		})
	}
}

// Past the daily cap the server answers 4820: a server QuotaError until 00:00 PST,
// whether the SendFunc reads it or a Transport on its client does.
func TestV1WriteCRMSimRateLimit(t *testing.T) {
	tests := []struct {
		name      string
		transport bool
	}{
		{name: "bare client"},
		{name: "client with a Transport", transport: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv, err := crmsim.New(crmsim.Config{API: crmsim.V1, DailyLimit: 2})
				require.NoError(t, err)
				var rt http.RoundTripper = inMemory{srv}
				if tt.transport {
					// The ledger thinks it has plenty: only the server knows the cap is spent.
					l, err := zohoquota.NewLimiter(zohoquota.Quota{Limit: 1000, Window: zohoquota.Daily(zohoquota.PST)})
					require.NoError(t, err)
					rt = &zohoquota.Transport{Base: rt, Limiter: l, Cost: zohoquota.V1Cost}
				}
				send := zohoquota.V1Write[map[string]string](zohoquota.V1Target{
					Client: &http.Client{Transport: rt}, BaseURL: "https://crm.zoho.test", Module: "Leads", AuthToken: "tok"})
				for i := range 2 {
					_, err := send(t.Context(), v1Leads(3, nil))
					require.NoError(t, err, "call %d", i)
				}
				_, err = send(t.Context(), v1Leads(3, nil))
				var qe *zohoquota.QuotaError
				require.ErrorAs(t, err, &qe)
				assert.True(t, qe.Server)
				assert.Equal(t, zohoquota.NextReset(time.Now(), zohoquota.PST), qe.ResetAt)
				assert.Equal(t, 1, srv.Stats().RateLimitedV1)
				assert.Len(t, srv.Records("Leads"), 6, "the refused call wrote nothing")

				time.Sleep(time.Until(qe.ResetAt))
				_, err = send(t.Context(), v1Leads(3, nil))
				require.NoError(t, err, "a new day")
			})
		})
	}
}

// A Job of 250 records under a v1 quota: every record confirmed, each stored once,
// the server's cap never hit, whether the quota lasts or the job must wait (or stop
// and resume) for the next day.
func TestV1WriteJobCRMSim(t *testing.T) {
	tests := []struct {
		name      string
		cap       int
		transport bool // admit in the client's Transport, not in the Job
		runs      int
	}{
		{name: "Free edition cap", cap: 1000, runs: 1},
		{name: "job waits for the reset", cap: 2, runs: 1},
		{name: "transport: stop and resume after the reset", cap: 2, transport: true, runs: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv, err := crmsim.New(crmsim.Config{API: crmsim.V1, DailyLimit: tt.cap, Latency: 50 * time.Millisecond})
				require.NoError(t, err)
				quota := zohoquota.Quota{Limit: tt.cap, Window: zohoquota.Daily(zohoquota.PST)}
				if tt.cap == 1000 {
					quota, err = zohoquota.V1Quota(zohoquota.Free, 1)
					require.NoError(t, err)
				}
				l, err := zohoquota.NewLimiter(quota)
				require.NoError(t, err)
				var rt http.RoundTripper = inMemory{srv}
				if tt.transport {
					rt = &zohoquota.Transport{Base: rt, Limiter: l, Cost: zohoquota.V1Cost}
				}
				records := v1Leads(250, nil)
				job := &zohoquota.Job[map[string]string]{
					Op: zohoquota.Write, Module: "Leads", Records: records, Concurrency: 2,
					Checkpoint: filepath.Join(t.TempDir(), "job.json"),
					Send: zohoquota.V1Write[map[string]string](zohoquota.V1Target{
						Client: &http.Client{Transport: rt}, BaseURL: "https://crm.zoho.test", Module: "Leads", AuthToken: "tok"}),
				}
				if !tt.transport {
					job.Limiter = l
				}

				var rep *zohoquota.Report
				for run := 1; ; run++ {
					rep, err = job.Run(t.Context())
					if err == nil {
						assert.Equal(t, tt.runs, run, "runs")
						break
					}
					require.Less(t, run, tt.runs, "run %d: %v", run, err)
					require.ErrorIs(t, err, zohoquota.ErrQuotaExhausted)
					time.Sleep(time.Until(rep.ResumeAt))
				}
				assert.Equal(t, 250, rep.Confirmed)
				seen := map[string]int{}
				for _, r := range srv.Records("Leads") {
					seen[r.Get("Email")]++
				}
				for i, rec := range records {
					assert.Equal(t, 1, seen[rec["Email"]], "record %d", i)
				}
				assert.Len(t, srv.Records("Leads"), 250)
				st := srv.Stats()
				assert.Equal(t, 3, st.Requests, "no batch sent twice")
				assert.Zero(t, st.RateLimitedV1, "the limiter kept the job inside the server's cap")
			})
		})
	}
}
