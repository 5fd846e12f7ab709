package zohoquota

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// flakyStore is a MemoryStore that can be switched off, to test the failure policy
// without a network (redisstore's tests do it against a real Redis).
type flakyStore struct {
	*MemoryStore
	down atomic.Bool
}

var errDown = errors.New("connection refused")

// outageSpent returns what the current outage has admitted, or 0 without one.
func outageSpent(l *Limiter) int {
	o := l.out.Load()
	if o == nil {
		return 0
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.mine.usage(o.mineLimit, l.quota.Window, time.Now()).Used
}

func (s *flakyStore) Take(ctx context.Context, key string, cost, limit int, w Window, now time.Time) (Decision, error) {
	if s.down.Load() {
		return Decision{}, errDown
	}
	return s.MemoryStore.Take(ctx, key, cost, limit, w, now)
}

func (s *flakyStore) Usage(ctx context.Context, key string, limit int, w Window, now time.Time) (Usage, error) {
	if s.down.Load() {
		return Usage{}, errDown
	}
	return s.MemoryStore.Usage(ctx, key, limit, w, now)
}

func (s *flakyStore) Block(ctx context.Context, key string, until time.Time, w Window, now time.Time) error {
	if s.down.Load() {
		return errDown
	}
	return s.MemoryStore.Block(ctx, key, until, w, now)
}

func (s *flakyStore) SetRemaining(ctx context.Context, key string, remaining, limit int, w Window, now time.Time) error {
	if s.down.Load() {
		return errDown
	}
	return s.MemoryStore.SetRemaining(ctx, key, remaining, limit, w, now)
}

func (s *flakyStore) AcquireSlots(ctx context.Context, key string, n, limit int, now time.Time) (Lease, bool, error) {
	if s.down.Load() {
		return Lease{}, false, errDown
	}
	return s.MemoryStore.AcquireSlots(ctx, key, n, limit, now)
}

func TestFailClosed(t *testing.T) {
	s := &flakyStore{MemoryStore: NewMemoryStore()}
	l := newTestLimiter(t, Quota{Limit: 100, Window: Daily(nil)}, WithStore(s))
	require.True(t, l.Allow())
	s.down.Store(true)
	assert.False(t, l.Allow())
	err := l.Wait(t.Context())
	assert.ErrorIs(t, err, ErrStoreUnavailable)
	assert.ErrorIs(t, err, errDown)
	assert.ErrorContains(t, err, "fail closed")
	s.down.Store(false)
	assert.True(t, l.Allow(), "the limiter uses the store again once it answers")
	assert.Equal(t, 2, l.Usage().Used)
}

func TestFailOpen(t *testing.T) {
	s := &flakyStore{MemoryStore: NewMemoryStore()}
	l := newTestLimiter(t, Quota{Limit: 100, Window: Daily(nil)}, WithStore(s), WithFailOpen(0.1))
	s.down.Store(true)
	n := 0
	for l.Allow() {
		n++
		require.LessOrEqual(t, n, 10)
	}
	assert.Equal(t, 10, n, "fail open admits a tenth of the quota locally")
	s.down.Store(false)
	// The local admissions are written into the store once it answers: together
	// they stay within the limit.
	assert.True(t, l.Allow())
	assert.Equal(t, 11, l.Usage().Used)
	assert.True(t, l.AllowN(89))
	assert.False(t, l.Allow())
}

// TestFailOpenKnowsTheStore: an outage's local budget starts from what the store
// last said was used (and blocked), so one limiter never admits more than the
// limit in a window, across outages and recoveries.
func TestFailOpenKnowsTheStore(t *testing.T) {
	for _, w := range []Window{Daily(nil), Rolling(24 * time.Hour)} {
		synctest.Test(t, func(t *testing.T) {
			s := &flakyStore{MemoryStore: NewMemoryStore()}
			l := newTestLimiter(t, Quota{Limit: 100, Window: w}, WithStore(s), WithFailOpen(0.5))
			admitted := 0
			for i := range 400 {
				s.down.Store(i%100 >= 70) // 70 calls with the store, 30 without, ...
				if l.Allow() {
					admitted++
				}
				time.Sleep(time.Minute)
			}
			assert.Equal(t, 100, admitted, "%v: admitted in one window, limit 100", w)

			// A block the store imposed holds in the next outage too.
			s.down.Store(false)
			time.Sleep(24 * time.Hour)
			require.True(t, l.Allow())
			require.NoError(t, l.Exhaust(t.Context(), time.Now().Add(time.Hour)))
			s.down.Store(true)
			assert.False(t, l.Allow(), "%v: the outage forgot the block", w)
			time.Sleep(time.Hour)
			assert.True(t, l.Allow(), "%v", w)
		})
	}
}

// TestFailOpenSlotsKnowTheStore: slots held in the store count against the
// local pool, and slots held from the local pool against the store's cap.
func TestFailOpenSlotsKnowTheStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &flakyStore{MemoryStore: NewMemoryStore()}
		l := newTestLimiter(t, Quota{Limit: 1000, Window: Rolling(24 * time.Hour), Concurrency: 4}, WithStore(s),
			WithFailOpen(1), WithSlotPoll(time.Millisecond))
		acquire := func() (func(), bool) {
			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			defer cancel()
			release, err := l.Acquire(ctx, 1)
			return release, err == nil
		}
		var held []func()
		for range 3 {
			r, ok := acquire()
			require.True(t, ok)
			held = append(held, r)
		}
		s.down.Store(true)
		r, ok := acquire()
		require.True(t, ok, "one slot of four is free")
		held = append(held, r)
		_, ok = acquire()
		assert.False(t, ok, "five calls in flight with a cap of 4")

		s.down.Store(false)
		time.Sleep(probeEvery) // the next call finds the store back
		_, ok = acquire()
		assert.False(t, ok, "the store lent a slot the local pool holds")
		assert.Nil(t, l.out.Load(), "the outage is over")
		held[3]() // the local one
		r, ok = acquire()
		assert.True(t, ok)
		r()
		for _, r := range held[:3] {
			r()
		}
		assert.Equal(t, 0, l.Usage().InFlight)
	})
}

func TestFailClosedSlots(t *testing.T) {
	s := &flakyStore{MemoryStore: NewMemoryStore()}
	l := newTestLimiter(t, Quota{Limit: 100, Window: Daily(nil), Concurrency: 2}, WithStore(s))
	require.True(t, l.Allow())
	s.down.Store(true)
	_, err := l.Acquire(t.Context(), 1)
	assert.ErrorIs(t, err, ErrStoreUnavailable)
}

// TestFailOpenSlots: while the store is down, slots come from a local pool of the
// fail-open fraction of the concurrency cap; once it is back, from the store again.
func TestFailOpenSlots(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &flakyStore{MemoryStore: NewMemoryStore()}
		l := newTestLimiter(t, Quota{Limit: 100, Window: Daily(nil), Concurrency: 4}, WithStore(s),
			WithFailOpen(0.5), WithSlotPoll(time.Millisecond))
		s.down.Store(true)
		r1, err := l.Acquire(t.Context(), 1)
		require.NoError(t, err)
		r2, err := l.Acquire(t.Context(), 1)
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		_, err = l.Acquire(ctx, 1)
		require.ErrorIs(t, err, context.DeadlineExceeded, "the local pool holds half of the 4 slots")
		assert.Equal(t, 2, outageSpent(l), "the refused call's unit was refunded")

		// A call needing more slots than the local pool has runs once the pool is empty.
		r1()
		r2()
		p, err := l.AcquirePermit(t.Context(), 1, 3)
		require.NoError(t, err)
		p.Release()

		s.down.Store(false)
		time.Sleep(probeEvery) // the next call finds the store back
		r3, err := l.Acquire(t.Context(), 1)
		require.NoError(t, err)
		n, _ := s.SlotsInUse(t.Context(), l.slotKey, time.Now())
		assert.Equal(t, 1, n, "with the store back, slots are held there")
		r3()
		r1() // a second release frees nothing twice
		n, _ = s.SlotsInUse(t.Context(), l.slotKey, time.Now())
		assert.Equal(t, 0, n)
	})
}

// Pacing spreads the rest of the day: with 2,400 units left and 24 hours to go, one
// unit every 36 seconds.
func TestPacing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sleepUntil(time.Date(2026, 12, 3, 0, 0, 0, 0, PST))
		l := newTestLimiter(t, Quota{Limit: 2400, Window: Daily(nil)}, WithPacing(1))
		require.True(t, l.Allow())
		assert.False(t, l.Allow(), "the bucket holds one unit")
		assert.Equal(t, 1, l.Usage().Used, "a paced refusal consumes no quota")

		start := time.Now()
		require.NoError(t, l.Wait(t.Context()))
		assert.InDelta(t, 36, time.Since(start).Seconds(), 0.5)

		// A cost above the burst is paced in parts, never refused for its size.
		start = time.Now()
		require.NoError(t, l.WaitN(t.Context(), 10))
		assert.InDelta(t, 360, time.Since(start).Seconds(), 5)

		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		var qe *QuotaError
		require.ErrorAs(t, l.Wait(ctx), &qe)
		assert.False(t, qe.Deadline.IsZero())
		assert.Equal(t, 12, l.Usage().Used)
	})
}

// Refused calls give their pacing tokens back: five refusals of a cost above the
// burst leave the bucket as full as it was.
func TestPacingRefusalsCostNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestLimiter(t, Quota{Limit: 2400, Window: Rolling(24 * time.Hour)}, WithPacing(10))
		for range 5 {
			assert.False(t, l.AllowN(20), "more than the burst is never allowed at once")
		}
		assert.True(t, l.AllowN(10), "the bucket is still full")
		assert.Equal(t, 10, l.Usage().Used)
		allocs := testing.AllocsPerRun(10, func() { l.AllowN(2000) })
		assert.Zero(t, allocs, "a cost above the burst is refused without a reservation per burst")

		// A WaitN refused for its deadline leaves the next wait as long as it was.
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		var qe *QuotaError
		require.ErrorAs(t, l.WaitN(ctx, 50), &qe)
		assert.True(t, qe.Paced)
		assert.Equal(t, 10, qe.Used)
		assert.ErrorContains(t, qe, "(paced): 10 of 2400 used")
		start := time.Now()
		require.NoError(t, l.WaitN(t.Context(), 50))
		// 2,400 a day is one unit every 36 s: 50 units from an empty bucket, 30 minutes.
		assert.Equal(t, 30*time.Minute, time.Since(start).Round(time.Second))
	})
}

// alternatingStore fails every other Take, so a fail-open limiter switches between
// the store and its local budget all the time.
type alternatingStore struct {
	*MemoryStore
	n       atomic.Int64
	setRems atomic.Int64 // SetRemaining calls: the outages' write-backs
}

func (s *alternatingStore) SetRemaining(ctx context.Context, key string, remaining, limit int, w Window, now time.Time) error {
	s.setRems.Add(1)
	return s.MemoryStore.SetRemaining(ctx, key, remaining, limit, w, now)
}

func (s *alternatingStore) Take(ctx context.Context, key string, cost, limit int, w Window, now time.Time) (Decision, error) {
	if s.n.Add(1)%2 == 0 {
		return Decision{}, errDown
	}
	return s.MemoryStore.Take(ctx, key, cost, limit, w, now)
}

// A refund goes back to the ledger that admitted the units: the store's to the
// store; an outage's to the outage, or, once the outage was written into the
// store, nowhere (the units stay spent there: the count runs high, never low).
func TestFailOpenRefundGoesHome(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &flakyStore{MemoryStore: NewMemoryStore()}
		l := newTestLimiter(t, Quota{Limit: 100, Window: Daily(nil)}, WithStore(s), WithFailOpen(1))
		fromStore, err := l.AcquirePermit(t.Context(), 3, 1)
		require.NoError(t, err)
		s.down.Store(true)
		refunded, err := l.AcquirePermit(t.Context(), 5, 1)
		require.NoError(t, err)
		kept, err := l.AcquirePermit(t.Context(), 7, 1)
		require.NoError(t, err)
		refunded.Refund()
		assert.Equal(t, 7, outageSpent(l))

		time.Sleep(time.Second)
		s.down.Store(false)
		require.True(t, l.Allow()) // the store is back: the outage's 7 are written into it
		assert.Equal(t, 3+7+1, l.Usage().Used)
		kept.Refund()
		assert.Equal(t, 3+7+1, l.Usage().Used, "a refund after the write-back frees nothing")

		time.Sleep(time.Second)
		p, err := l.AcquirePermit(t.Context(), 2, 1)
		require.NoError(t, err)
		p.Refund()
		assert.Equal(t, 3+7+1, l.Usage().Used, "a store permit's refund goes to the store")
		fromStore.Release()
	})
}

// TestFailOpenFlipping: goroutines flip the limiter between the store and its
// local budget all the time; refunds go where they belong, and the store holds at
// most what write-backs could strand (units in flight at each).
func TestFailOpenFlipping(t *testing.T) {
	s := &alternatingStore{MemoryStore: NewMemoryStore()}
	l := newTestLimiter(t, Quota{Limit: 1_000_000, Window: Daily(nil)}, WithStore(s), WithFailOpen(1))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 2000 {
				p, err := l.AcquirePermit(t.Context(), 1, 1)
				if assert.NoError(t, err) {
					p.Refund()
				}
			}
		})
	}
	wg.Wait()
	u, err := s.MemoryStore.Usage(t.Context(), "default", 1_000_000, Daily(nil), time.Now())
	require.NoError(t, err)
	// Each write-back can strand the units of the 8 calls in flight: those of the
	// outage it writes, and store ones whose refunds it makes stay spent.
	assert.LessOrEqual(t, u.Used, 16*int(s.setRems.Load()), "refunds did not go home")
	assert.Equal(t, 0, outageSpent(l))
}

// While the store is down, a fail-open limiter still hears the server: a 429 blocks
// the local budget and a remaining figure of 0 spends it.
func TestFailOpenHearsTheServer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &flakyStore{MemoryStore: NewMemoryStore()}
		s.down.Store(true)
		l := newTestLimiter(t, Quota{Limit: 100, Window: Rolling(24 * time.Hour)}, WithStore(s), WithFailOpen(0.5))
		require.True(t, l.Allow())
		err := l.Exhaust(t.Context(), time.Now().Add(time.Hour))
		assert.ErrorIs(t, err, ErrStoreUnavailable, "the store did not take the block, and the caller is told")
		assert.False(t, l.Allow(), "the local budget is blocked")
		time.Sleep(time.Hour)
		assert.True(t, l.Allow())
		assert.ErrorIs(t, l.SetRemaining(t.Context(), 0), ErrStoreUnavailable)
		assert.False(t, l.Allow(), "remaining 0 spends the local budget")
	})
}
