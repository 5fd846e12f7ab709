package zohoquota

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sleepUntil moves a synctest bubble's fake clock to t.
func sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }

// assertAt checks two instants are the same, whatever their locations.
func assertAt(t *testing.T, want, got time.Time, msgAndArgs ...any) {
	t.Helper()
	assert.True(t, want.Equal(got), append([]any{"got %v, want %v", got, want}, msgAndArgs...)...)
}

func newTestLimiter(t *testing.T, q Quota, opts ...Option) *Limiter {
	t.Helper()
	l, err := NewLimiter(q, opts...)
	require.NoError(t, err)
	return l
}

func fill(t *testing.T, l *Limiter) int {
	t.Helper()
	n := 0
	for l.Allow() {
		n++
		require.LessOrEqual(t, n, l.Quota().Limit, "admitted past the limit")
	}
	return n
}

// A whole v1 quota day: spend it all, fail fast under a deadline, wait through the
// reset and land exactly on midnight PST.
func TestQuotaDay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sleepUntil(time.Date(2026, 12, 3, 9, 30, 0, 0, PST))
		q, err := V1Quota(Standard, 10)
		require.NoError(t, err)
		l := newTestLimiter(t, q)

		assert.Equal(t, 2500, fill(t, l))
		u := l.Usage()
		assert.Equal(t, Usage{Limit: 2500, Used: 2500, Remaining: 0, ResetAt: time.Date(2026, 12, 4, 0, 0, 0, 0, PST)}, u)

		// A deadline before midnight fails at once, without waiting.
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
		defer cancel()
		start := time.Now()
		err = l.Wait(ctx)
		var qe *QuotaError
		require.ErrorAs(t, err, &qe)
		assert.ErrorIs(t, err, ErrQuotaExhausted)
		assert.True(t, qe.ResetAt.Equal(time.Date(2026, 12, 4, 0, 0, 0, 0, PST)), "ResetAt = %v", qe.ResetAt)
		assert.False(t, qe.Blocked, "the ledger is full: no server block")
		assert.Equal(t, start, time.Now(), "Wait must fail fast, not wait for the deadline")

		// Without a deadline Wait returns exactly at the reset.
		require.NoError(t, l.Wait(t.Context()))
		assert.True(t, time.Now().Equal(time.Date(2026, 12, 4, 0, 0, 0, 0, PST)), "woke at %v", time.Now().In(PST))
		assert.Equal(t, 1, l.Usage().Used)
		assert.Equal(t, 2499, fill(t, l))
	})
}

// With Pacific(), the reset follows daylight saving: the spring day is 23 hours long
// and the autumn day 25.
func TestQuotaDayAcrossDST(t *testing.T) {
	la := Pacific()
	tests := []struct {
		name    string
		day     time.Time
		wantDay time.Duration
	}{
		{"spring forward", time.Date(2026, 3, 8, 0, 0, 0, 0, la), 23 * time.Hour},
		{"fall back", time.Date(2026, 11, 1, 0, 0, 0, 0, la), 25 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sleepUntil(tt.day)
				l := newTestLimiter(t, Quota{Limit: 10, Window: Daily(la)})
				assert.Equal(t, 10, fill(t, l))
				require.NoError(t, l.Wait(t.Context()))
				assert.Equal(t, tt.wantDay, time.Since(tt.day))
				y, m, d := time.Now().In(la).Date()
				assert.Equal(t, tt.day.AddDate(0, 0, 1), time.Date(y, m, d, 0, 0, 0, 0, la))
			})
		})
	}
}

// The fixed-PST default resets at 08:00 UTC all year, an hour after Pacific midnight
// in summer: late, never early.
func TestFixedPSTInSummer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sleepUntil(time.Date(2026, 7, 1, 12, 0, 0, 0, Pacific()))
		l := newTestLimiter(t, Quota{Limit: 1, Window: Daily(nil)})
		require.True(t, l.Allow())
		require.NoError(t, l.Wait(t.Context()))
		assert.Equal(t, time.Date(2026, 7, 2, 8, 0, 0, 0, time.UTC), time.Now().UTC())
	})
}

// Credits spent at 10:00 come back at 10:00 the next day, not at midnight: at the end
// of the one-minute bucket that holds 10:00, so at most a bucket late, never early.
func TestRollingWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ten := time.Date(2026, 12, 3, 10, 0, 0, 0, PST)
		sleepUntil(ten)
		l := newTestLimiter(t, Quota{Limit: 100, Window: Rolling(24 * time.Hour)})
		require.True(t, l.AllowN(60))
		sleepUntil(ten.Add(4 * time.Hour))
		require.True(t, l.AllowN(40))
		assert.False(t, l.Allow())
		assertAt(t, ten.Add(24*time.Hour+time.Minute), l.Usage().ResetAt)

		sleepUntil(time.Date(2026, 12, 4, 0, 0, 1, 0, PST))
		assert.False(t, l.Allow(), "a rolling window must not reset at midnight")

		require.NoError(t, l.WaitN(t.Context(), 50))
		assertAt(t, ten.Add(24*time.Hour+time.Minute), time.Now())
		assert.Equal(t, 90, l.Usage().Used)

		// Asking for more than what frees first waits for the later spending too.
		require.NoError(t, l.WaitN(t.Context(), 50))
		assertAt(t, ten.Add(28*time.Hour+time.Minute), time.Now())
	})
}

// Spending is rounded up to the end of its bucket, so it comes back late, never early.
func TestRollingBucketRoundsUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		at := time.Date(2026, 12, 3, 10, 0, 30, 0, time.UTC)
		sleepUntil(at)
		l := newTestLimiter(t, Quota{Limit: 1, Window: Rolling(time.Hour)})
		require.True(t, l.Allow())
		require.NoError(t, l.Wait(t.Context()))
		assertAt(t, time.Date(2026, 12, 3, 11, 1, 0, 0, time.UTC), time.Now())
	})
}

func TestLimiterJumpBackwards(t *testing.T) {
	now := time.Date(2026, 12, 3, 23, 59, 0, 0, PST)
	l := newTestLimiter(t, Quota{Limit: 2, Window: Daily(nil)})
	require.True(t, l.AllowNAt(now.Add(2*time.Minute), 2)) // the next day
	// A clock stepping back into the previous day must not open a fresh budget.
	assert.False(t, l.AllowNAt(now, 1))

	r := newTestLimiter(t, Quota{Limit: 1, Window: Rolling(time.Hour)})
	require.True(t, r.AllowNAt(now, 1))
	assert.False(t, r.AllowNAt(now.Add(-2*time.Hour), 1))
}

func TestCostChecks(t *testing.T) {
	l := newTestLimiter(t, Quota{Limit: 10, Window: Rolling(time.Hour)})
	assert.True(t, l.AllowN(0))
	assert.False(t, l.AllowN(-1))
	assert.False(t, l.AllowN(11))

	err := l.WaitN(t.Context(), 11)
	assert.ErrorIs(t, err, ErrCostAboveLimit)
	assert.NotErrorIs(t, err, ErrQuotaExhausted)
	assert.ErrorContains(t, err, "cost 11, limit 10")
	assert.ErrorContains(t, l.WaitN(t.Context(), -2), "need 0 or more")
	assert.Equal(t, 0, l.Usage().Used, "refused costs are never consumed")
}

// TestHugeLimit: a limit near math.MaxInt (an "unlimited" quota, or a cap that
// saturated) still refuses a cost above what remains; used+cost must not wrap.
func TestHugeLimit(t *testing.T) {
	for _, w := range []Window{Daily(nil), Rolling(24 * time.Hour)} {
		l := newTestLimiter(t, Quota{Limit: math.MaxInt, Window: w})
		require.NoError(t, l.SetRemaining(t.Context(), 5))
		assert.False(t, l.AllowN(10), "%v: admitted 10 with 5 remaining", w)
		assert.True(t, l.AllowN(5), "%v", w)
		assert.False(t, l.Allow(), "%v", w)
		u := l.Usage()
		assert.Equal(t, math.MaxInt, u.Used, "%v", w)
		assert.Equal(t, 0, u.Remaining, "%v", w)
	}
}

func TestNewLimiterErrors(t *testing.T) {
	good := Quota{Limit: 10, Window: Daily(nil)}
	tests := []struct {
		name string
		q    Quota
		opts []Option
		msg  string
	}{
		{"zero limit", Quota{}, nil, "need at least 1"},
		{"negative concurrency", Quota{Limit: 1, Concurrency: -1}, nil, "concurrency -1"},
		{"bad window", Quota{Limit: 1, Window: Window{Length: -1}}, nil, "window length"},
		{"nil store", good, []Option{WithStore(nil)}, "WithStore(nil)"},
		{"empty key", good, []Option{WithKey("")}, "non-empty key"},
		{"zero burst", good, []Option{WithPacing(0)}, "burst must be at least 1"},
		{"fail open fraction", good, []Option{WithFailOpen(1.5)}, "fraction must be in (0, 1]"},
		{"slot poll", good, []Option{WithSlotPoll(0)}, "positive duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := NewLimiter(tt.q, tt.opts...)
			assert.Nil(t, l)
			assert.ErrorContains(t, err, tt.msg)
		})
	}
}

func TestWaitContextCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestLimiter(t, Quota{Limit: 1, Window: Rolling(time.Hour)})
		require.True(t, l.Allow())
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- l.Wait(ctx) }()
		synctest.Wait()
		cancel()
		assert.ErrorIs(t, <-done, context.Canceled)
		assert.Equal(t, 1, l.Usage().Used)
	})
}

// Limiters sharing a store and a key share one budget; another key is another budget.
func TestSharedStoreKeys(t *testing.T) {
	s := NewMemoryStore()
	q := Quota{Limit: 3, Window: Daily(nil)}
	a := newTestLimiter(t, q, WithStore(s), WithKey("org-a"))
	a2 := newTestLimiter(t, q, WithStore(s), WithKey("org-a"))
	b := newTestLimiter(t, q, WithStore(s), WithKey("org-b"))
	require.True(t, a.AllowN(2))
	require.True(t, a2.Allow())
	assert.False(t, a.Allow())
	assert.False(t, a2.Allow())
	assert.True(t, b.AllowN(3))
}

func TestSetRemainingAndExhaust(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestLimiter(t, Quota{Limit: 1000, Window: Rolling(24 * time.Hour)})
		require.True(t, l.AllowN(10))
		require.NoError(t, l.SetRemaining(t.Context(), 400)) // others spent 590 we did not see
		assert.Equal(t, 600, l.Usage().Used)
		require.NoError(t, l.SetRemaining(t.Context(), 900)) // stale: frees nothing
		assert.Equal(t, 600, l.Usage().Used)
		assert.ErrorContains(t, l.SetRemaining(t.Context(), -1), "need 0 or more")

		until := time.Now().Add(10 * time.Minute)
		require.NoError(t, l.Exhaust(t.Context(), until))
		assert.False(t, l.Allow())
		assert.Equal(t, 0, l.Usage().Remaining)
		assert.True(t, l.Usage().Blocked)
		assertAt(t, until, l.Usage().ResetAt)
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		err := l.Wait(ctx)
		cancel()
		var qe *QuotaError
		require.ErrorAs(t, err, &qe)
		assert.True(t, qe.Blocked, "a refusal with room in the ledger is the server's block")
		assert.ErrorContains(t, err, "(blocked): Zoho refused an earlier call")
		assertAt(t, until, qe.ResetAt)
		require.NoError(t, l.Wait(t.Context()))
		assertAt(t, until, time.Now())
		assert.False(t, l.Usage().Blocked)
	})
}

// TestRefundAfterServerFigure: a reservation refunded after a server figure came
// in stays spent, since the figure may count it: the refund must not free units
// the server says are used.
func TestRefundAfterServerFigure(t *testing.T) {
	for _, w := range []Window{Daily(PST), Rolling(24 * time.Hour)} {
		synctest.Test(t, func(t *testing.T) {
			l := newTestLimiter(t, Quota{Limit: 100, Window: w})
			p, err := l.AcquirePermit(t.Context(), 10, 1)
			require.NoError(t, err)
			require.NoError(t, l.SetRemaining(t.Context(), 50))
			p.Refund()
			assert.Equal(t, 50, l.Usage().Remaining, "%v: the refund freed units the server counted", w)

			// A reservation made after the figure is refunded as usual.
			time.Sleep(time.Second)
			p, err = l.AcquirePermit(t.Context(), 10, 1)
			require.NoError(t, err)
			p.Refund()
			assert.Equal(t, 50, l.Usage().Remaining, "%v", w)
		})
	}
}

func TestAcquireHoldsSlots(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestLimiter(t, Quota{Limit: 100, Window: Rolling(24 * time.Hour), Concurrency: 2})
		r1, err := l.Acquire(t.Context(), 1)
		require.NoError(t, err)
		r2, err := l.Acquire(t.Context(), 1)
		require.NoError(t, err)
		assert.Equal(t, 2, l.Usage().InFlight)

		got := make(chan struct{})
		go func() {
			r3, err := l.Acquire(t.Context(), 1)
			if assert.NoError(t, err) {
				r3()
			}
			close(got)
		}()
		synctest.Wait()
		select {
		case <-got:
			t.Fatal("a third call got a slot while two were held")
		default:
		}
		r1()
		r1() // twice frees once
		<-got
		r2()
		assert.Equal(t, 0, l.Usage().InFlight)
		assert.Equal(t, 3, l.Usage().Used)
	})
}

// Quota is refunded when the slot never comes; slots wait, the quota does not.
func TestAcquireRefundsOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestLimiter(t, Quota{Limit: 100, Window: Daily(nil), Concurrency: 1})
		release, err := l.Acquire(t.Context(), 5)
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_, err = l.Acquire(ctx, 7)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 5, l.Usage().Used, "the 7 units were refunded")
		release()

		p, err := l.AcquirePermit(t.Context(), 9, 1)
		require.NoError(t, err)
		p.Refund()
		p.Refund()
		p.Release()
		assert.Equal(t, 5, l.Usage().Used, "a refund returns exactly what was taken, once")
		_, err = l.AcquirePermit(t.Context(), 1, 2)
		assert.ErrorContains(t, err, "need 1 to 1")
	})
}

// 64 goroutines against one limiter: the units admitted never exceed the cap.
func TestConcurrentAdmissions(t *testing.T) {
	for _, w := range []Window{Daily(nil), Rolling(24 * time.Hour)} {
		t.Run(w.String(), func(t *testing.T) {
			const limit = 5000
			l := newTestLimiter(t, Quota{Limit: limit, Window: w, Concurrency: 8})
			var admitted, inFlight, maxInFlight atomic.Int64
			var wg sync.WaitGroup
			for g := range 64 {
				wg.Go(func() {
					for i := 0; ; i++ {
						cost := 1 + (g+i)%10
						if i%3 == 0 {
							// A deadline makes an exhausted quota fail fast instead of waiting for the reset.
							ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
							p, err := l.AcquirePermit(ctx, cost, 1)
							cancel()
							if errors.Is(err, ErrQuotaExhausted) {
								cost = 1
							} else if assert.NoError(t, err) {
								n := inFlight.Add(1)
								for m := maxInFlight.Load(); n > m && !maxInFlight.CompareAndSwap(m, n); m = maxInFlight.Load() {
								}
								admitted.Add(int64(cost))
								inFlight.Add(-1)
								p.Release()
								continue
							}
						}
						if l.AllowN(cost) {
							admitted.Add(int64(cost))
						} else if cost == 1 {
							return
						}
					}
				})
			}
			wg.Wait()
			assert.Equal(t, int64(limit), admitted.Load(), "admitted units")
			assert.LessOrEqual(t, maxInFlight.Load(), int64(8))
			assert.Equal(t, limit, l.Usage().Used)
		})
	}
}
