package zohoquota_test

import (
	"context"
	"fmt"
	"math/rand/v2"
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

// simLeads returns n leads with unique emails; the rows in noName lack Last_Name
// and the rows in badEmail have an email Zoho refuses.
func simLeads(n int, noName, badEmail map[int]bool) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		rec := map[string]any{"Last_Name": fmt.Sprintf("Doe%d", i), "Company": "Acme", "Email": fmt.Sprintf("lead%d@example.com", i)}
		if noName[i] {
			delete(rec, "Last_Name")
		}
		if badEmail[i] {
			rec["Email"] = fmt.Sprintf("lead%d-at-example", i)
		}
		out[i] = rec
	}
	return out
}

// simJob is a job writing records to srv's Leads through an in-memory client.
func simJob(srv *crmsim.Server, l *zohoquota.Limiter, records []map[string]any, ck string) *zohoquota.Job[map[string]any] {
	return &zohoquota.Job[map[string]any]{
		Op: zohoquota.Write, Module: "Leads", Records: records, Limiter: l, Checkpoint: ck,
		Send: zohoquota.V8Write[map[string]any](zohoquota.V8Target{
			Client: &http.Client{Transport: inMemory{srv}}, BaseURL: "https://sim.zoho.test", Module: "Leads", Token: "tok",
		}),
	}
}

// assertStoredOnce checks that the server holds each accepted record exactly once
// and none of the refused ones.
func assertStoredOnce(t *testing.T, srv *crmsim.Server, records []map[string]any, refused map[int]bool) {
	t.Helper()
	seen := map[string]int{}
	for _, r := range srv.Records("Leads") {
		seen[r.Get("Email")]++
	}
	stored := 0
	for i, rec := range records {
		want := 1
		if refused[i] {
			want = 0
		}
		require.Equal(t, want, seen[rec["Email"].(string)], "record %d stored %d times", i, seen[rec["Email"].(string)])
		stored += want
	}
	assert.Len(t, srv.Records("Leads"), stored)
}

// A quota too small for the job: the job stops with a checkpoint, resumes after
// the credits free up, and the server ends with each record exactly once; rows Zoho
// refuses are reported and never sent again.
func TestJobCRMSimStopsAndResumes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const limit = 200 // credits: 20 batches of 100
		srv, err := crmsim.New(crmsim.Config{API: crmsim.V8, CreditLimit: limit, Concurrency: 10})
		require.NoError(t, err)
		noName, badEmail := map[int]bool{3: true, 2_500: true}, map[int]bool{77: true, 4_999: true}
		refused := map[int]bool{3: true, 2_500: true, 77: true, 4_999: true}
		records := simLeads(5_000, noName, badEmail) // 500 credits
		l, err := zohoquota.NewLimiter(zohoquota.Quota{Limit: limit, Window: zohoquota.Rolling(24 * time.Hour), Concurrency: 10})
		require.NoError(t, err)
		ck := filepath.Join(t.TempDir(), "job.json")

		var reps []*zohoquota.Report
		for range 10 {
			job := simJob(srv, l, records, ck)
			job.MaxWait, job.Concurrency = time.Minute, 4
			rep, err := job.Run(t.Context())
			reps = append(reps, rep)
			if err == nil {
				break
			}
			require.ErrorIs(t, err, zohoquota.ErrQuotaExhausted)
			require.False(t, rep.ResumeAt.IsZero())
			time.Sleep(time.Until(rep.ResumeAt)) // the simulated reset: credits spent a day ago free up
		}
		require.Len(t, reps, 3)
		var done, resumed []int
		for _, r := range reps {
			done, resumed = append(done, r.Confirmed+r.Failed), append(resumed, r.Resumed)
		}
		assert.Equal(t, []int{2_000, 4_000, 5_000}, done, "200 credits a day: 20 batches a run")
		assert.Equal(t, []int{0, 2_000, 4_000}, resumed)
		last := reps[2]
		assert.Equal(t, 4_996, last.Confirmed)
		assert.Equal(t, map[string]int{"MANDATORY_NOT_FOUND": 2, "INVALID_DATA": 2}, last.FailedByCode())
		assert.Equal(t, "Email", last.Outcomes[77].Result.Details["api_name"])

		st := srv.Stats()
		assert.Zero(t, st.Rejected429, "the limiter kept the job inside the server's quota")
		assert.Equal(t, 50, st.Requests, "no batch sent twice")
		assert.Equal(t, 2, st.RecordResults["MANDATORY_NOT_FOUND"], "refused rows are not retried")
		assert.Equal(t, 2, st.RecordResults["INVALID_DATA"])
		assertStoredOnce(t, srv, records, refused)
	})
}

// Cancel the job at random moments, in a send or in a wait for quota, and run it
// again until it is done: no record is written twice, none is lost, and the
// checkpoint always parses.
func TestJobCRMSimCancelAtRandomPoints(t *testing.T) {
	for seed := range uint64(50) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, 2026))
				const limit = 150
				srv, err := crmsim.New(crmsim.Config{API: crmsim.V8, CreditLimit: limit, Concurrency: 5,
					Latency: time.Duration(1+rng.IntN(500)) * time.Millisecond})
				require.NoError(t, err)
				n := 1_000 + rng.IntN(1_000)
				refused := map[int]bool{rng.IntN(n): true, rng.IntN(n): true}
				records := simLeads(n, refused, nil)
				l, err := zohoquota.NewLimiter(zohoquota.Quota{Limit: limit, Window: zohoquota.Rolling(24 * time.Hour), Concurrency: 5})
				require.NoError(t, err)
				ck := filepath.Join(t.TempDir(), "job.json")

				var rep *zohoquota.Report
				for run := 0; ; run++ {
					require.Less(t, run, 200, "the job never finished")
					ctx, cancel := context.WithCancel(t.Context())
					// Mostly mid-batch; sometimes far enough in to land in a day-long wait.
					after := time.Duration(rng.IntN(2_000)) * time.Millisecond
					if rng.IntN(4) == 0 {
						after = time.Duration(rng.IntN(30)) * time.Hour
					}
					stop := time.AfterFunc(after, cancel)
					job := simJob(srv, l, records, ck)
					job.Concurrency, job.Lookahead = 1+rng.IntN(5), 1+rng.IntN(8)
					rep, err = job.Run(ctx)
					stop.Stop()
					cancel()

					id, total, final, ckErr := zohoquota.ReadCheckpoint(ck)
					require.NoError(t, ckErr, "checkpoint after run %d", run)
					require.NotEmpty(t, id)
					require.Equal(t, n, total)
					require.Equal(t, rep.Confirmed+rep.Failed+rep.Unknown, final)
					require.Equal(t, rep.Total, rep.Confirmed+rep.Failed+rep.Unknown+rep.Pending)
					if err == nil {
						break
					}
					require.ErrorIs(t, err, context.Canceled)
				}
				assert.Zero(t, rep.Unknown, "a cancel lets the batches on the wire finish")
				assert.Equal(t, len(refused), rep.Failed)
				assert.Zero(t, srv.Stats().Rejected429)
				assertStoredOnce(t, srv, records, refused)
			})
		})
	}
}

// BenchmarkJobOverhead compares, per batch of 100 records against the simulated
// server (in memory, no network), a bare send func called in a loop with a Job
// running the same batches through a limiter, with a checkpoint (synced to disk
// every 8 batches) and without. It reports each and the ratios.
func BenchmarkJobOverhead(b *testing.B) {
	const batches = 20
	records := simLeads(batches*100, nil, nil)
	newSrv := func() *crmsim.Server {
		srv, err := crmsim.New(crmsim.Config{API: crmsim.V8, CreditLimit: 1 << 30})
		if err != nil {
			b.Fatal(err)
		}
		return srv
	}
	dir := b.TempDir()
	var bare, job, jobNoCk time.Duration
	for i := 0; b.Loop(); i++ {
		srv := newSrv()
		send := zohoquota.V8Write[map[string]any](zohoquota.V8Target{
			Client: &http.Client{Transport: inMemory{srv}}, BaseURL: "https://sim.zoho.test", Module: "Leads", Token: "tok"})
		t0 := time.Now()
		for batch := range zohoquota.WriteBatches(records) {
			if _, err := send(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
		}
		bare += time.Since(t0)

		srv = newSrv()
		l, err := zohoquota.NewLimiter(zohoquota.Quota{Limit: 1 << 30, Window: zohoquota.Rolling(24 * time.Hour), Concurrency: 10})
		if err != nil {
			b.Fatal(err)
		}
		j := simJob(srv, l, records, filepath.Join(dir, fmt.Sprintf("job%d.json", i)))
		j.Identity = "bench"
		t0 = time.Now()
		if _, err := j.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
		job += time.Since(t0)

		srv = newSrv()
		j = simJob(srv, l, records, "")
		t0 = time.Now()
		if _, err := j.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
		jobNoCk += time.Since(t0)
	}
	n := float64(b.N * batches)
	b.ReportMetric(float64(bare.Nanoseconds())/n, "bare-ns/batch")
	b.ReportMetric(float64(job.Nanoseconds())/n, "job-ns/batch")
	b.ReportMetric(float64(jobNoCk.Nanoseconds())/n, "job-nockpt-ns/batch")
	b.ReportMetric(float64(job)/float64(bare), "job/bare")
	b.ReportMetric(float64(jobNoCk)/float64(bare), "job-nockpt/bare")
}
