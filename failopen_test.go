package zohoquota

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hookStore is a MemoryStore whose methods can be switched off one kind at a
// time, made to fail a few times, or paused, to find the fail-open budget's races.
type hookStore struct {
	*MemoryStore
	takeDown, usageDown, setDown, slotsDown atomic.Bool
	hang                                    atomic.Bool // Take waits for its ctx to end
	failTakes                               atomic.Int64
	beforeTake, afterTake                   func(cost int)
	afterAcquire                            func()
}

func (s *hookStore) Take(ctx context.Context, k string, c, lim int, w Window, now time.Time) (Decision, error) {
	if s.takeDown.Load() {
		return Decision{}, errDown
	}
	if s.hang.Load() {
		<-ctx.Done()
		return Decision{}, ctx.Err()
	}
	if s.failTakes.Load() > 0 {
		s.failTakes.Add(-1)
		return Decision{}, errDown
	}
	if s.beforeTake != nil {
		s.beforeTake(c)
	}
	d, err := s.MemoryStore.Take(ctx, k, c, lim, w, now)
	if s.afterTake != nil {
		s.afterTake(c)
	}
	return d, err
}

func (s *hookStore) Usage(ctx context.Context, k string, lim int, w Window, now time.Time) (Usage, error) {
	if s.usageDown.Load() {
		return Usage{}, errDown
	}
	return s.MemoryStore.Usage(ctx, k, lim, w, now)
}

func (s *hookStore) AcquireSlots(ctx context.Context, k string, n, lim int, now time.Time) (Lease, bool, error) {
	if s.slotsDown.Load() {
		return Lease{}, false, errDown
	}
	l, ok, err := s.MemoryStore.AcquireSlots(ctx, k, n, lim, now)
	if s.afterAcquire != nil {
		s.afterAcquire()
	}
	return l, ok, err
}

func (s *hookStore) SlotsInUse(ctx context.Context, k string, now time.Time) (int, error) {
	if s.slotsDown.Load() {
		return 0, errDown
	}
	return s.MemoryStore.SlotsInUse(ctx, k, now)
}

func (s *hookStore) SetRemaining(ctx context.Context, k string, r, lim int, w Window, now time.Time) error {
	if s.setDown.Load() {
		return errDown
	}
	return s.MemoryStore.SetRemaining(ctx, k, r, lim, w, now)
}

func (s *hookStore) Block(ctx context.Context, k string, u time.Time, w Window, now time.Time) error {
	if s.takeDown.Load() {
		return errDown
	}
	return s.MemoryStore.Block(ctx, k, u, w, now)
}

// down switches every method off (or on) but Refund and ReleaseSlots.
func (s *hookStore) down(v bool) {
	for _, b := range []*atomic.Bool{&s.takeDown, &s.usageDown, &s.setDown, &s.slotsDown} {
		b.Store(v)
	}
}

func newHook(t *testing.T, q Quota, f float64) (*hookStore, *Limiter) {
	s := &hookStore{MemoryStore: NewMemoryStore()}
	return s, newTestLimiter(t, q, WithStore(s), WithFailOpen(f), WithSlotPoll(time.Millisecond))
}

func daily(limit int) Quota { return Quota{Limit: limit, Window: Daily(nil)} }

// A write-back the store fails keeps the outage open: its units are not lost.
func TestFailOpenWriteBackFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, l := newHook(t, daily(10), 1)
		s.down(true)
		n := 0
		for range 10 {
			if l.Allow() {
				n++
			}
		}
		time.Sleep(time.Second)
		s.down(false)
		s.failTakes.Store(1) // the write-back's Take
		for range 20 {
			if l.Allow() {
				n++
			}
		}
		assert.Equal(t, 10, n, "admitted in one day, limit 10")
	})
}

// While the outage writes itself into the store, no other call is admitted from
// a store that does not yet hold the outage's units.
func TestFailOpenWriteBackRace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, l := newHook(t, daily(10), 1)
		s.down(true)
		var n atomic.Int64
		for range 10 {
			if l.Allow() {
				n.Add(1)
			}
		}
		time.Sleep(time.Second)
		s.down(false)
		in, goOn := make(chan struct{}), make(chan struct{})
		s.beforeTake = func(c int) {
			if c == 10 { // the write-back
				close(in)
				<-goOn
			}
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			if l.Allow() {
				n.Add(1)
			}
		})
		<-in
		// Another call while the write-back is in flight: it waits for the outage
		// or finds the store holding its units; either way it is refused. (Its
		// wait on the outage's mutex is not one synctest.Wait can see, so the
		// test does not wait for it to start.)
		done := make(chan struct{})
		go func() {
			if l.Allow() {
				n.Add(1)
			}
			close(done)
		}()
		close(goOn)
		wg.Wait()
		<-done
		assert.Equal(t, int64(10), n.Load(), "admitted in one day, limit 10")
	})
}

// An older answer of the store that comes back last does not lower what the next
// outage starts from.
func TestFailOpenSeenOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, l := newHook(t, daily(2), 1)
		var first atomic.Bool
		first.Store(true)
		hold := make(chan struct{})
		s.afterTake = func(int) {
			if first.CompareAndSwap(true, false) {
				<-hold
			}
		}
		var n atomic.Int64
		var wg sync.WaitGroup
		wg.Go(func() {
			if l.Allow() {
				n.Add(1)
			}
		})
		synctest.Wait()
		if l.Allow() {
			n.Add(1)
		}
		close(hold)
		wg.Wait()
		s.down(true)
		for range 5 {
			if l.Allow() {
				n.Add(1)
			}
		}
		assert.Equal(t, int64(2), n.Load(), "admitted, limit 2")
	})
}

// A lease the store grants while it fails still counts against the local pool.
func TestFailOpenSlotsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, l := newHook(t, Quota{Limit: 100, Window: Daily(nil), Concurrency: 2}, 1)
		r0, err := l.Acquire(t.Context(), 1)
		require.NoError(t, err)
		defer r0()
		acq, goOn := make(chan struct{}), make(chan struct{})
		s.afterAcquire = func() {
			close(acq)
			<-goOn
		}
		var in atomic.Int64
		in.Store(1)
		var wg sync.WaitGroup
		wg.Go(func() {
			if r, err := l.Acquire(t.Context(), 1); err == nil {
				in.Add(1)
				defer r()
			}
			<-goOn
		})
		<-acq
		s.afterAcquire = nil
		s.down(true)
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		if r, err := l.Acquire(ctx, 1); err == nil {
			in.Add(1)
			defer r()
		}
		cancel()
		close(goOn)
		synctest.Wait()
		assert.LessOrEqual(t, in.Load(), int64(2), "calls in flight, cap 2")
		wg.Wait()
	})
}

// A day that turns during an outage gives the fail-open fraction again, not the
// whole limit; one that turned before it frees yesterday's figure.
func TestFailOpenAcrossMidnight(t *testing.T) {
	t.Run("outage spans midnight", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			sleepUntil(time.Date(2026, 12, 3, 12, 0, 0, 0, PST))
			s, l := newHook(t, daily(100), 0.1)
			s.usageDown.Store(true)
			require.True(t, l.AllowN(90))
			s.down(true)
			for l.Allow() {
			}
			sleepUntil(time.Date(2026, 12, 4, 0, 1, 0, 0, PST))
			n := 0
			for l.Allow() && n < 1000 {
				n++
			}
			assert.Equal(t, 10, n, "day 2 of the outage: a tenth of the limit")
		})
	})
	t.Run("outage starts after midnight", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			sleepUntil(time.Date(2026, 12, 3, 23, 0, 0, 0, PST))
			s, l := newHook(t, daily(100), 0.5)
			require.True(t, l.AllowN(100))
			sleepUntil(time.Date(2026, 12, 4, 0, 5, 0, 0, PST))
			s.down(true)
			n := 0
			for l.Allow() && n < 1000 {
				n++
			}
			assert.Equal(t, 50, n, "yesterday's units do not count today")
		})
	})
}

// A server figure or a block heard during an outage reaches the store when it is
// back.
func TestFailOpenTellsTheStore(t *testing.T) {
	for _, tt := range []struct {
		name string
		hear func(l *Limiter) error
	}{
		{"remaining 0", func(l *Limiter) error { return l.SetRemaining(context.Background(), 0) }},
		{"blocked an hour", func(l *Limiter) error { return l.Exhaust(context.Background(), time.Now().Add(time.Hour)) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, l := newHook(t, daily(100), 0.5)
				s.down(true)
				require.ErrorIs(t, tt.hear(l), ErrStoreUnavailable)
				time.Sleep(time.Second)
				s.down(false)
				assert.False(t, l.Allow(), "the store forgot what the server said")
				assert.Nil(t, l.out.Load(), "the outage is over")
			})
		})
	}
}

// Wait during an outage comes back when the store does, not at the local budget's
// reset.
func TestFailOpenWaitProbes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sleepUntil(time.Date(2026, 12, 3, 12, 0, 0, 0, PST))
		s, l := newHook(t, daily(100), 0.1)
		s.down(true)
		for l.Allow() {
		}
		go func() {
			time.Sleep(time.Minute)
			s.down(false)
		}()
		start := time.Now()
		require.NoError(t, l.Wait(t.Context()))
		assert.LessOrEqual(t, time.Since(start), time.Minute+probeEvery)
	})
}

// Limits near math.MaxInt: the fraction does not overflow, and an outage admits
// neither more than remains nor less than its fraction.
func TestFailOpenHugeLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, l := newHook(t, daily(math.MaxInt), 0.5)
		require.True(t, l.AllowN(math.MaxInt-5))
		s.down(true)
		assert.False(t, l.AllowN(1<<61), "the outage admitted 2^61 with 5 remaining")
		assert.True(t, l.AllowN(5))
		assert.False(t, l.Allow())
	})
	synctest.Test(t, func(t *testing.T) {
		s, l := newHook(t, daily(math.MaxInt), 1)
		s.down(true)
		n := 0
		for l.Allow() && n < 100 {
			n++
		}
		assert.Equal(t, 100, n)
	})
	assert.Equal(t, math.MaxInt, fraction(math.MaxInt, 1))
	assert.Equal(t, 1, fraction(10, 0.01))
	assert.Equal(t, 5, fraction(10, 0.5))
}

// A server figure heard after the last Take seeds the next outage at the time it
// was heard, not at the Take's: a day that turned in between does not free it.
func TestFailOpenFigureSeededWhenHeard(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sleepUntil(time.Date(2026, 12, 3, 23, 0, 0, 0, PST))
		s, l := newHook(t, daily(100), 0.5)
		require.True(t, l.Allow())
		sleepUntil(time.Date(2026, 12, 4, 0, 5, 0, 0, PST))
		require.NoError(t, l.SetRemaining(t.Context(), 0))
		s.down(true)
		assert.False(t, l.Allow(), "the store said all 100 were used today")
	})
}

// A Take the store admits but the limiter has not yet noted counts in an outage
// that another call starts meanwhile.
func TestFailOpenTakeInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, l := newHook(t, daily(10), 1)
		require.True(t, l.AllowN(9))
		var first atomic.Bool
		first.Store(true)
		in, hold := make(chan struct{}), make(chan struct{})
		s.afterTake = func(int) {
			if first.CompareAndSwap(true, false) {
				close(in)
				<-hold
			}
		}
		var n atomic.Int64
		n.Store(9)
		done := make(chan struct{})
		go func() {
			if l.Allow() {
				n.Add(1)
			}
			close(done)
		}()
		<-in
		s.down(true)
		for i := 0; i < 20 && l.Allow(); i++ {
			n.Add(1)
		}
		close(hold)
		<-done
		assert.LessOrEqual(t, n.Load(), int64(10), "admitted, limit 10")
	})
}

// When the store takes figures but not Takes, a figure the outage wrote into it
// seeds the next outage too.
func TestFailOpenOnlyTakeFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, l := newHook(t, daily(100), 0.5)
		s.down(true)
		require.Error(t, l.SetRemaining(t.Context(), 0))
		require.False(t, l.Allow())
		time.Sleep(time.Second)
		s.setDown.Store(false)
		s.usageDown.Store(false)
		n := 0
		for l.Allow() && n < 1000 {
			n++
		}
		assert.Zero(t, n, "the server said none remain")
	})
}

// A figure heard on one day is not written into the next.
func TestFailOpenStaleFigure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sleepUntil(time.Date(2026, 12, 3, 23, 50, 0, 0, PST))
		s, l := newHook(t, daily(100), 0.5)
		s.down(true)
		require.Error(t, l.SetRemaining(t.Context(), 0))
		sleepUntil(time.Date(2026, 12, 4, 0, 10, 0, 0, PST))
		s.down(false)
		n := 0
		for l.Allow() && n < 1000 {
			n++
		}
		assert.Equal(t, 100, n, "a new day")
	})
}

// ctxStore fails AcquireSlots for the contexts that carry downKey, so that calls
// racing through the store and through the local pool meet.
type ctxStore struct{ *MemoryStore }

type downKey struct{}

func (s ctxStore) AcquireSlots(ctx context.Context, k string, n, lim int, now time.Time) (Lease, bool, error) {
	if ctx.Value(downKey{}) != nil {
		return Lease{}, false, errDown
	}
	return s.MemoryStore.AcquireSlots(ctx, k, n, lim, now)
}

// Calls racing through the store and through the local pool never hold more
// slots than the cap.
func TestFailOpenSlotsRace(t *testing.T) {
	l := newTestLimiter(t, Quota{Limit: 1 << 30, Window: Daily(nil), Concurrency: 1},
		WithStore(ctxStore{NewMemoryStore()}), WithFailOpen(1), WithSlotPoll(time.Microsecond))
	down := context.WithValue(t.Context(), downKey{}, true)
	var in, most atomic.Int64
	var wg sync.WaitGroup
	for i := range 4 {
		ctx := t.Context()
		if i%2 == 1 {
			ctx = down
		}
		wg.Go(func() {
			for range 500 {
				p, err := l.AcquirePermit(ctx, 1, 1)
				if !assert.NoError(t, err) {
					return
				}
				now := in.Add(1)
				for m := most.Load(); now > m && !most.CompareAndSwap(m, now); m = most.Load() {
				}
				in.Add(-1)
				p.Release()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(1), most.Load(), "calls in flight at once, cap 1")
}

// A store that hangs while the outage is written into it holds no caller past
// its context, and the outage goes on when the write fails.
func TestFailOpenWriteHangs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, l := newHook(t, daily(100), 0.5)
		s.down(true)
		require.True(t, l.Allow())
		time.Sleep(probeEvery)
		s.down(false)
		s.hang.Store(true)
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		done := make(chan error)
		go func() { done <- l.Wait(ctx) }() // probes, and writes into the hanging store
		synctest.Wait()
		assert.False(t, l.Allow(), "admitted while the outage is being written")
		assert.Equal(t, start, time.Now(), "Allow waited for the write")
		require.NoError(t, <-done, "after the failed write, the local budget admits")
		assert.Equal(t, 100*time.Millisecond, time.Since(start), "Wait held past its deadline")
		s.hang.Store(false)
		assert.NotNil(t, l.out.Load(), "the write failed: the outage goes on")
		assert.Equal(t, 2, outageSpent(l))
	})
}

// Usage during an outage reports the local budget and the calls in flight.
func TestFailOpenUsage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, l := newHook(t, Quota{Limit: 100, Window: Daily(nil), Concurrency: 5}, 0.5)
		s.down(true)
		for range 10 {
			require.True(t, l.Allow())
		}
		release, err := l.Acquire(t.Context(), 1)
		require.NoError(t, err)
		u, err := l.UsageContext(t.Context())
		require.NoError(t, err)
		assert.Equal(t, 11, u.Used)
		assert.Equal(t, 39, u.Remaining)
		assert.Equal(t, 1, u.InFlight)
		release()
	})
}

// Units admitted during an outage after a server figure count on top of it when
// the store is back.
func TestFailOpenFigureThenUnits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sleepUntil(time.Date(2026, 12, 3, 12, 0, 0, 0, PST))
		s, l := newHook(t, daily(100), 1)
		s.down(true)
		require.Error(t, l.SetRemaining(t.Context(), 50))
		n := 0
		for l.Allow() && n < 1000 {
			n++
		}
		time.Sleep(probeEvery)
		s.down(false)
		m := 0
		for l.Allow() && m < 1000 {
			m++
		}
		assert.Equal(t, 50, n)
		assert.Zero(t, m, "50 used by the server's figure and 50 here: none left")
		assert.Equal(t, 100, l.Usage().Used)
	})
}

// A limiter's own calls never hold more slots than the cap, even when the store
// let a lease lapse (its renewals failed) and would lend the slots again.
func TestOwnSlotsCapped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &lapsingStore{MemoryStore: NewMemoryStore()}
		l := newTestLimiter(t, Quota{Limit: 1000, Window: Daily(nil), Concurrency: 5}, WithStore(s), WithSlotPoll(time.Millisecond))
		p1, err := l.AcquirePermit(t.Context(), 1, 5)
		require.NoError(t, err)
		s.lapseAll()
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		_, err = l.AcquirePermit(ctx, 1, 5)
		assert.ErrorIs(t, err, context.DeadlineExceeded, "10 slots in flight with a cap of 5")
		p1.Release()
		p2, err := l.AcquirePermit(t.Context(), 1, 5)
		require.NoError(t, err)
		p2.Release()
	})
}

// lapsingStore is a MemoryStore whose leases can be made to lapse at once, as a
// shared store's do when their holder cannot renew them.
type lapsingStore struct{ *MemoryStore }

func (s *lapsingStore) lapseAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.slots {
		p.inUse, p.leases = 0, map[string]int{}
	}
}

// slowRefund is a MemoryStore whose Refund takes seconds.
type slowRefund struct{ *MemoryStore }

func (s slowRefund) Refund(ctx context.Context, k string, d Decision, w Window) error {
	select {
	case <-time.After(5 * time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.MemoryStore.Refund(ctx, k, d, w)
}

// A call that gives up waiting for a slot returns at its deadline; the refund of
// its units goes on meanwhile and lands.
func TestAcquireDeadlineWithSlowRefund(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := slowRefund{NewMemoryStore()}
		l := newTestLimiter(t, Quota{Limit: 100, Window: Daily(nil), Concurrency: 1}, WithStore(s))
		release, err := l.Acquire(t.Context(), 1)
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err = l.Acquire(ctx, 1)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 100*time.Millisecond, time.Since(start))
		time.Sleep(6 * time.Second) // past the slow refund
		assert.Equal(t, 1, l.Usage().Used, "the refund landed")
		release()
	})
}
