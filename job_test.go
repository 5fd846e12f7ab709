package zohoquota

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type lead struct {
	Key      string `json:"key"`
	LastName string `json:"Last_Name,omitempty"`
}

func leads(n int) []lead {
	out := make([]lead, n)
	for i := range out {
		out[i] = lead{Key: fmt.Sprintf("lead-%05d", i), LastName: "Doe"}
	}
	return out
}

// fakeZoho is a send func's far end: it keeps what was written, how often, and
// can be told to fail a batch.
type fakeZoho struct {
	mu      sync.Mutex
	written map[string]int // key -> times written
	sends   int
	// fail, if set, decides what happens to send number i (from 1): nil sends
	// normally.
	fail func(i int, batch []lead) (writeFirst bool, err error)
}

func newFakeZoho() *fakeZoho { return &fakeZoho{written: make(map[string]int)} }

func (z *fakeZoho) send(upsert bool) SendFunc[lead] {
	return func(ctx context.Context, batch []lead) ([]Result, error) {
		z.mu.Lock()
		defer z.mu.Unlock()
		z.sends++
		var failErr error
		if z.fail != nil {
			writeFirst, err := z.fail(z.sends, batch)
			if err != nil && !writeFirst {
				return nil, err
			}
			failErr = err
		}
		out := make([]Result, len(batch))
		for i, r := range batch {
			if r.LastName == "" {
				out[i] = Result{Code: "MANDATORY_NOT_FOUND", Status: "error", Message: "required field not found",
					Details: map[string]any{"api_name": "Last_Name"}}
				continue
			}
			if upsert && z.written[r.Key] > 0 {
				out[i] = Result{Code: "SUCCESS", Status: "success", Message: "record updated", ID: "id-" + r.Key}
				continue
			}
			z.written[r.Key]++
			out[i] = Result{Code: "SUCCESS", Status: "success", Message: "record added", ID: "id-" + r.Key}
		}
		return out, failErr
	}
}

func (z *fakeZoho) assertEachOnce(t *testing.T, records []lead) {
	t.Helper()
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, r := range records {
		want := 1
		if r.LastName == "" {
			want = 0
		}
		require.Equal(t, want, z.written[r.Key], "record %s written %d times", r.Key, z.written[r.Key])
	}
}

func TestJobAllConfirmed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		records := leads(1_234)
		z := newFakeZoho()
		l, err := NewLimiter(Quota{Limit: 2_500, Window: Daily(PST)})
		require.NoError(t, err)
		job := &Job[lead]{Op: Write, Module: "Leads", Records: records, Send: z.send(false), Limiter: l}
		rep, err := job.Run(t.Context())
		require.NoError(t, err)
		assert.Equal(t, 1_234, rep.Confirmed)
		assert.Equal(t, 13, rep.Requests)
		assert.Equal(t, 13, rep.Units)
		assert.True(t, rep.Complete())
		assert.Equal(t, "id-lead-00042", rep.Outcomes[42].Result.ID)
		assert.Equal(t, 13, l.Usage().Used)
		z.assertEachOnce(t, records)
	})
}

func TestJobCreditCostOnRollingQuota(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		z := newFakeZoho()
		l, err := NewLimiter(Quota{Limit: 1_000, Window: Rolling(24 * time.Hour)})
		require.NoError(t, err)
		job := &Job[lead]{Op: Write, Records: leads(1_234), Send: z.send(false), Limiter: l}
		rep, err := job.Run(t.Context())
		require.NoError(t, err)
		assert.Equal(t, 124, rep.Units, "12 batches of 10 credits and one of 4")
		assert.Equal(t, 124, l.Usage().Used)
	})
}

// Rows Zoho refuses are reported with its code, and never sent again.
func TestJobValidationErrorsReportedNotRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		records := leads(250)
		for _, i := range []int{3, 150, 249} {
			records[i].LastName = ""
		}
		z := newFakeZoho()
		job := &Job[lead]{Op: Write, Records: records, Send: z.send(false)}
		rep, err := job.Run(t.Context())
		require.NoError(t, err)
		assert.Equal(t, 247, rep.Confirmed)
		assert.Equal(t, 3, rep.Failed)
		assert.Equal(t, map[string]int{"MANDATORY_NOT_FOUND": 3}, rep.FailedByCode())
		assert.Equal(t, Failed, rep.Outcomes[150].State)
		assert.Equal(t, "Last_Name", rep.Outcomes[150].Result.Details["api_name"])
		assert.Equal(t, 3, z.sends, "no batch sent twice")
		z.assertEachOnce(t, records)
	})
}

// A quota too small for the job: it stops, checkpoints, and resumes after each
// reset without resending anything.
func TestJobStopsAtQuotaAndResumesFromCheckpoint(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		records := leads(1_234)
		z := newFakeZoho()
		l, err := NewLimiter(Quota{Limit: 5, Window: Daily(PST)})
		require.NoError(t, err)
		ck := filepath.Join(t.TempDir(), "job.json")
		newJob := func() *Job[lead] {
			return &Job[lead]{Op: Write, Module: "Leads", Records: records, Send: z.send(false), Limiter: l,
				Checkpoint: ck, MaxWait: time.Minute}
		}
		var runs []*Report
		for range 10 {
			rep, err := newJob().Run(t.Context())
			runs = append(runs, rep)
			if err == nil {
				break
			}
			var qe *QuotaError
			require.ErrorAs(t, err, &qe)
			require.ErrorIs(t, err, ErrQuotaExhausted)
			assert.False(t, rep.Complete())
			assert.True(t, rep.ResumeAt.Equal(NextReset(time.Now(), PST)), "ResumeAt = %v", rep.ResumeAt)
			assert.Equal(t, rep.Total, rep.Confirmed+rep.Pending)
			_, _, final, err := ReadCheckpoint(ck)
			require.NoError(t, err)
			assert.Equal(t, rep.Confirmed, final)
			time.Sleep(time.Until(rep.ResumeAt))
		}
		require.Len(t, runs, 3)
		assert.Equal(t, []int{500, 1_000, 1_234}, []int{runs[0].Confirmed, runs[1].Confirmed, runs[2].Confirmed})
		assert.Equal(t, []int{0, 500, 1_000}, []int{runs[0].Resumed, runs[1].Resumed, runs[2].Resumed})
		assert.Equal(t, 13, z.sends)
		z.assertEachOnce(t, records)
		assert.Equal(t, "id-lead-00007", runs[2].Outcomes[7].Result.ID, "ids of earlier runs come back from the checkpoint")
	})
}

// With no deadline the job waits through the resets instead of stopping.
func TestJobWaitsForResetWhenCtxAllows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		z := newFakeZoho()
		l, err := NewLimiter(Quota{Limit: 5, Window: Daily(PST)})
		require.NoError(t, err)
		var waits []time.Time
		job := &Job[lead]{Op: Write, Records: leads(1_234), Send: z.send(false), Limiter: l,
			Progress: func(p Progress) {
				if !p.WaitingUntil.IsZero() {
					waits = append(waits, p.WaitingUntil)
				}
			}}
		rep, err := job.Run(t.Context())
		require.NoError(t, err)
		assert.Equal(t, 1_234, rep.Confirmed)
		first := NextReset(start, PST)
		assert.Equal(t, []time.Time{first, NextReset(first, PST)}, waits)
		assert.True(t, time.Now().Equal(NextReset(first, PST)), "finished at the second reset, %v", time.Now())
	})
}

func TestJobDeadlineBeforeResetStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, err := NewLimiter(Quota{Limit: 5, Window: Daily(PST)})
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		job := &Job[lead]{Op: Write, Records: leads(1_000), Send: newFakeZoho().send(false), Limiter: l}
		rep, err := job.Run(ctx)
		require.ErrorIs(t, err, ErrQuotaExhausted)
		assert.Equal(t, 500, rep.Confirmed)
		assert.Equal(t, 500, rep.Pending)
	})
}

func TestJobAmbiguousFailure(t *testing.T) {
	timeout := errors.New("read tcp: i/o timeout")
	tests := []struct {
		name       string
		idempotent bool
		want       RecordState
		sends      int
	}{
		{"insert is not resent", false, Unknown, 3},
		{"upsert is retried", true, Confirmed, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				records := leads(300)
				z := newFakeZoho()
				z.fail = func(i int, _ []lead) (bool, error) {
					if i == 2 {
						return true, timeout // written, then the answer was lost
					}
					return false, nil
				}
				job := &Job[lead]{Op: Write, Records: records, Send: z.send(tt.idempotent), Idempotent: tt.idempotent}
				rep, err := job.Run(t.Context())
				require.NoError(t, err)
				assert.Equal(t, tt.want, rep.Outcomes[150].State)
				assert.Equal(t, tt.sends, z.sends)
				if tt.want == Unknown {
					assert.Equal(t, 100, rep.Unknown)
					assert.Equal(t, CodeUnknown, rep.Outcomes[150].Result.Code)
					assert.Contains(t, rep.Outcomes[150].Result.Message, "check before resending")
				}
				z.assertEachOnce(t, records)
			})
		})
	}
}

func TestJobNotWrittenIsResent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		records := leads(300)
		z := newFakeZoho()
		z.fail = func(i int, _ []lead) (bool, error) {
			if i == 2 || i == 3 {
				return false, fmt.Errorf("dial tcp: connection refused: %w", ErrNotWritten)
			}
			return false, nil
		}
		l, err := NewLimiter(Quota{Limit: 100, Window: Daily(PST)})
		require.NoError(t, err)
		job := &Job[lead]{Op: Write, Records: records, Send: z.send(false), Limiter: l}
		rep, err := job.Run(t.Context())
		require.NoError(t, err)
		assert.Equal(t, 300, rep.Confirmed)
		assert.Equal(t, 5, z.sends)
		assert.Equal(t, 3, l.Usage().Used, "requests that were not written are refunded")
		assert.Equal(t, 3, rep.Units, "the report counts what the quota paid, refunds left out")
		z.assertEachOnce(t, records)
	})
}

func TestJobGivesUpAfterRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		z := newFakeZoho()
		z.fail = func(i int, _ []lead) (bool, error) {
			if i >= 2 {
				return false, fmt.Errorf("down: %w", ErrNotWritten)
			}
			return false, nil
		}
		job := &Job[lead]{Op: Write, Records: leads(300), Send: z.send(false), MaxRetries: 2}
		rep, err := job.Run(t.Context())
		require.ErrorIs(t, err, ErrNotWritten)
		assert.Equal(t, 100, rep.Confirmed)
		assert.Equal(t, 200, rep.Pending)
		assert.Equal(t, 4, z.sends)
	})
}

func TestJobRejectedStopsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		z := newFakeZoho()
		z.fail = func(int, []lead) (bool, error) { return false, fmt.Errorf("INVALID_TOKEN: %w", ErrRejected) }
		rep, err := (&Job[lead]{Op: Write, Records: leads(300), Send: z.send(false)}).Run(t.Context())
		require.ErrorIs(t, err, ErrRejected)
		assert.Equal(t, 300, rep.Pending)
		assert.Equal(t, 1, z.sends)
	})
}

func TestJobStopsAfterAmbiguousFailuresInARow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		z := newFakeZoho()
		z.fail = func(int, []lead) (bool, error) { return false, errors.New("EOF") }
		rep, err := (&Job[lead]{Op: Write, Records: leads(1_000), Send: z.send(false)}).Run(t.Context())
		require.ErrorIs(t, err, ErrJobIncomplete)
		assert.Equal(t, 300, rep.Unknown)
		assert.Equal(t, 700, rep.Pending)
	})
}

// Zoho's 429 when the local ledger thought there was quota: the batch was not
// written, the ledger is marked spent, and the job waits (or stops) like any other
// quota refusal.
func TestJobServerQuotaRefusal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		records := leads(500)
		z := newFakeZoho()
		z.fail = func(i int, _ []lead) (bool, error) {
			if i == 3 {
				return false, &QuotaError{Key: "server", Server: true}
			}
			return false, nil
		}
		l, err := NewLimiter(Quota{Limit: 100, Window: Daily(PST)})
		require.NoError(t, err)
		start := time.Now()
		rep, err := (&Job[lead]{Op: Write, Records: records, Send: z.send(false), Limiter: l}).Run(t.Context())
		require.NoError(t, err)
		assert.Equal(t, 500, rep.Confirmed)
		assert.True(t, time.Now().Equal(NextReset(start, PST)), "waited for the reset")
		z.assertEachOnce(t, records)
	})
}

// The checkpoint names a batch as in flight before it is sent; a crash there leaves
// a plain insert Unknown on resume (never resent), an upsert pending (resent).
func TestJobCrashMidBatch(t *testing.T) {
	for _, idempotent := range []bool{false, true} {
		t.Run(fmt.Sprintf("idempotent=%v", idempotent), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				records := leads(500)
				dir := t.TempDir()
				ck, crashed := filepath.Join(dir, "job.json"), filepath.Join(dir, "crashed.json")
				z := newFakeZoho()
				z.fail = func(i int, _ []lead) (bool, error) {
					if i == 3 {
						// What a crash during this send would leave on disk.
						data, err := os.ReadFile(ck)
						require.NoError(t, err)
						require.NoError(t, os.WriteFile(crashed, data, 0o600))
					}
					return false, nil
				}
				job := &Job[lead]{Op: Write, Module: "Leads", Records: records, Send: z.send(idempotent),
					Idempotent: idempotent, Checkpoint: ck, Lookahead: 2}
				_, err := job.Run(t.Context())
				require.NoError(t, err)

				var raw checkpoint
				data, err := os.ReadFile(crashed)
				require.NoError(t, err)
				require.NoError(t, json.Unmarshal(data, &raw))
				assert.Equal(t, []int{2, 3}, raw.InFlight, "batch 2 and one ahead marked before batch 2 went out")
				assert.Len(t, raw.Batches, 2)

				z2 := newFakeZoho()
				job2 := &Job[lead]{Op: Write, Module: "Leads", Records: records, Send: z2.send(idempotent),
					Idempotent: idempotent, Checkpoint: crashed}
				rep, err := job2.Run(t.Context())
				require.NoError(t, err)
				assert.Equal(t, 400-200*boolInt(idempotent), rep.Resumed, "done batches, and unknown ones for an insert")
				if idempotent {
					assert.Equal(t, 500, rep.Confirmed)
					assert.Equal(t, 3, z2.sends, "batches 2, 3, 4")
				} else {
					assert.Equal(t, 200, rep.Unknown)
					assert.Equal(t, 300, rep.Confirmed)
					assert.Equal(t, 1, z2.sends, "only batch 4")
					assert.Equal(t, Unknown, rep.Outcomes[250].State)
				}
			})
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestJobCheckpointMismatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ck := filepath.Join(t.TempDir(), "job.json")
		records := leads(300)
		_, err := (&Job[lead]{Op: Write, Module: "Leads", Records: records, Send: newFakeZoho().send(false), Checkpoint: ck}).Run(t.Context())
		require.NoError(t, err)

		records[7].Key = "changed"
		_, err = (&Job[lead]{Op: Write, Module: "Leads", Records: records, Send: newFakeZoho().send(false), Checkpoint: ck}).Run(t.Context())
		require.ErrorIs(t, err, ErrCheckpoint)
		_, err = (&Job[lead]{Op: Write, Module: "Contacts", Records: leads(300), Send: newFakeZoho().send(false), Checkpoint: ck}).Run(t.Context())
		require.ErrorIs(t, err, ErrCheckpoint)

		for _, bad := range []string{"{", `{"version":2}`, `{"version":1,"batch_size":100,"records":10,"batches":[{"batch":5}]}`} {
			require.NoError(t, os.WriteFile(ck, []byte(bad), 0o600))
			_, err = (&Job[lead]{Op: Write, Records: leads(10), Send: newFakeZoho().send(false), Checkpoint: ck}).Run(t.Context())
			require.ErrorIs(t, err, ErrCheckpoint, "checkpoint %s", bad)
		}
	})
}

func TestJobBadInput(t *testing.T) {
	send := newFakeZoho().send(false)
	l, err := NewLimiter(Quota{Limit: 5, Window: Rolling(24 * time.Hour)})
	require.NoError(t, err)
	tests := []struct {
		name string
		job  *Job[lead]
		want error
	}{
		{"no op", &Job[lead]{Records: leads(1), Send: send}, ErrInvalidBatch},
		{"no send func", &Job[lead]{Op: Write, Records: leads(1)}, ErrInvalidBatch},
		{"batch of 101", &Job[lead]{Op: Write, Records: leads(1), Send: send, BatchSize: 101}, ErrInvalidBatch},
		{"negative concurrency", &Job[lead]{Op: Write, Records: leads(1), Send: send, Concurrency: -1}, ErrInvalidBatch},
		{"negative cooldown", &Job[lead]{Op: Write, Records: leads(1), Send: send, Cooldown: -time.Second}, ErrInvalidBatch},
		{"batch costs more than the limit", &Job[lead]{Op: Write, Records: leads(100), Send: send, Limiter: l}, ErrCostAboveLimit},
		{"last batch costs more than the limit", &Job[lead]{Op: Write, Records: leads(150), Send: send, Limiter: l,
			Cost: func(n int) int { return 1 + 5*boolInt(n < 100) }}, ErrCostAboveLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := tt.job.Run(t.Context())
			require.ErrorIs(t, err, tt.want)
			assert.Nil(t, rep)
			if tt.want == ErrInvalidBatch {
				assert.Equal(t, 1, strings.Count(err.Error(), "zohoquota: "), "%q", err)
			}
		})
	}
}

func TestJobEmpty(t *testing.T) {
	rep, err := (&Job[lead]{Op: Write, Send: newFakeZoho().send(false)}).Run(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 0, rep.Total)
}

// Cancel the job at random points and run it again until it is done: no record is
// written twice, none is lost, and the checkpoint always parses.
func TestJobCancelAtRandomPoints(t *testing.T) {
	for seed := range uint64(50) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, 7))
				records := leads(1_000 + rng.IntN(500))
				for range 5 {
					records[rng.IntN(len(records))].LastName = ""
				}
				ck := filepath.Join(t.TempDir(), "job.json")
				z := newFakeZoho()
				l, err := NewLimiter(Quota{Limit: 8, Window: Daily(PST), Concurrency: 3})
				require.NoError(t, err)
				var rep *Report
				for run := 0; ; run++ {
					require.Less(t, run, 100)
					ctx, cancel := context.WithCancel(t.Context())
					cancelAt := 1 + rng.IntN(6)
					var mu sync.Mutex
					sends, send := 0, z.send(false)
					job := &Job[lead]{Op: Write, Module: "Leads", Records: records, Limiter: l, Checkpoint: ck,
						Concurrency: 3, Lookahead: 1 + rng.IntN(4),
						Send: func(c context.Context, batch []lead) ([]Result, error) {
							mu.Lock()
							sends++
							if sends == cancelAt {
								cancel()
							}
							d := time.Duration(rng.IntN(3)) * time.Second
							mu.Unlock()
							time.Sleep(d)
							return send(c, batch)
						}}
					if rng.IntN(3) == 0 {
						// Sometimes the cancel lands while the job waits for quota.
						time.AfterFunc(time.Duration(rng.IntN(100))*time.Hour, cancel)
					}
					rep, err = job.Run(ctx)
					cancel()
					_, _, _, ckErr := ReadCheckpoint(ck)
					require.NoError(t, ckErr, "checkpoint after run %d", run)
					require.Equal(t, rep.Total, rep.Confirmed+rep.Failed+rep.Unknown+rep.Pending)
					if err == nil {
						break
					}
					require.ErrorIs(t, err, context.Canceled)
				}
				assert.Zero(t, rep.Unknown, "a graceful cancel lets batches finish")
				assert.Equal(t, blanks(records), rep.Failed)
				z.assertEachOnce(t, records)
				for i, o := range rep.Outcomes {
					if records[i].LastName != "" {
						require.Equal(t, Confirmed, o.State, "record %d", i)
						require.Equal(t, "id-"+records[i].Key, o.Result.ID)
					}
				}
			})
		})
	}
}

func blanks(records []lead) int {
	n := 0
	for _, r := range records {
		if r.LastName == "" {
			n++
		}
	}
	return n
}

// Zoho's 429 without Retry-After while the ledger has room (too many calls in
// flight, say) blocks the job for the Cooldown, not until the rolling window's
// oldest unit frees up (most of a day away), as Transport.blockUntil does.
func TestJobServerRefusalWithoutResetAt(t *testing.T) {
	tests := []struct {
		name     string
		limit    int
		resetIn  time.Duration // the refusal's ResetAt from now; 0 means none
		cooldown time.Duration
		maxWait  time.Duration
		want     func(ledgerReset time.Time, start time.Time) time.Time
	}{
		{"room left: the default cooldown", 100_000, 0, 0, 0,
			func(_, start time.Time) time.Time { return start.Add(DefaultCooldown) }},
		{"room left: the job's cooldown", 100_000, 0, 10 * time.Second, 0,
			func(_, start time.Time) time.Time { return start.Add(10 * time.Second) }},
		{"room left, MaxWait 5m: the job still finishes", 100_000, 0, 0, 5 * time.Minute,
			func(_, start time.Time) time.Time { return start.Add(DefaultCooldown) }},
		{"the server's reset", 100_000, 30 * time.Minute, 0, 0,
			func(_, start time.Time) time.Time { return start.Add(30 * time.Minute) }},
		{"no room left: the ledger's reset", 20, 0, 0, 0,
			func(ledgerReset, _ time.Time) time.Time { return ledgerReset }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newTestLimiter(t, Quota{Limit: tt.limit, Window: Rolling(24 * time.Hour)})
				records := leads(200)
				z := newFakeZoho()
				start := time.Now()
				var ledgerReset time.Time
				z.fail = func(i int, _ []lead) (bool, error) {
					if i != 2 {
						return false, nil
					}
					ledgerReset = l.Usage().ResetAt
					qe := &QuotaError{Key: "server", Cost: 10, Server: true}
					if tt.resetIn > 0 {
						qe.ResetAt = time.Now().Add(tt.resetIn)
					}
					return false, qe
				}
				job := &Job[lead]{Op: Write, Records: records, Send: z.send(false), Limiter: l,
					Cooldown: tt.cooldown, MaxWait: tt.maxWait}
				rep, err := job.Run(t.Context())
				require.NoError(t, err)
				assert.Equal(t, 200, rep.Confirmed)
				assertAt(t, tt.want(ledgerReset, start), time.Now())
				z.assertEachOnce(t, records)
			})
		})
	}
}

// A job smaller than one batch is checked at the cost of the batch it sends.
func TestJobSmallBatchWithinLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestLimiter(t, Quota{Limit: 5, Window: Rolling(24 * time.Hour)})
		rep, err := (&Job[lead]{Op: Write, Records: leads(30), Send: newFakeZoho().send(false), Limiter: l}).Run(t.Context())
		require.NoError(t, err)
		assert.Equal(t, 30, rep.Confirmed)
		assert.Equal(t, 3, rep.Units)
	})
}
