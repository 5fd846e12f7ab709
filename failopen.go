package zohoquota

import (
	"context"
	"math"
	"sync"
	"time"
)

// probeEvery is how often, during an outage, a fail-open limiter asks its store
// whether it is back (and sooner when the local budget refuses a call).
const probeEvery = time.Second

// An outage is a fail-open limiter's local budget while its store cannot be
// reached. It keeps two ledgers, both in the quota's window: total, the
// organization's units as this limiter knows them (seeded with what the store
// last said was used, then every unit admitted here and every figure the server
// reports), within the quota's limit; and mine, the units admitted here, within
// the fail-open fraction of the limit. A call is admitted when both have room, so
// a day (or a rolling window) that turns during the outage starts both afresh.
//
// One call at a time, at most once every probeEvery or when the local budget
// refuses, asks the store whether it is back; the others do not wait for a store
// that is down. When it answers, the outage writes what it learned into the store
// (mine's units, the latest server figure, the latest block) and closes, holding
// its lock meanwhile, so that no call is admitted here that the store does not
// then count. If the write fails, the outage stays open: a later probe writes
// again, which can only count units twice, never lose them.
type outage struct {
	mu        sync.Mutex
	total     ledger
	mine      ledger
	mineLimit int

	remaining int       // the latest server figure heard, -1 for none
	blocked   time.Time // the latest block heard
	closed    bool      // written into the store: admits nothing more
	probing   bool
	probeAt   time.Time // when the next probe is due
}

// outage returns the fail-open budget of the current outage, starting one if the
// store has just stopped answering.
func (l *Limiter) outage(t time.Time) *outage {
	for {
		if o := l.out.Load(); o != nil {
			return o
		}
		w := l.quota.Window
		seen, when := l.seen.get()
		if when.IsZero() || when.After(t) {
			when = t
		}
		o := &outage{mineLimit: fraction(l.quota.Limit, l.failOpen), remaining: -1, probeAt: t.Add(probeEvery)}
		// Seeded when the store said so: a day that has turned since frees it.
		o.total.seed(min(seen, l.quota.Limit), w, when)
		if until := time.Unix(0, l.blockedUntil.Load()); until.After(t) {
			o.total.block(until, w, t)
		}
		if l.out.CompareAndSwap(nil, o) {
			l.logger.Warn("zohoquota: store unavailable, running on the local fail-open budget",
				"key", l.key, "fraction", l.failOpen, "store_used", seen, "admits_at_most", o.mineLimit)
			return o
		}
	}
}

// fraction returns max(1, f × limit) for f in (0, 1], without the overflow of
// converting float64(math.MaxInt) back to int.
func fraction(limit int, f float64) int {
	v := float64(limit) * f
	if f >= 1 || v >= float64(math.MaxInt) {
		return limit
	}
	return max(1, min(limit, int(v)))
}

// take admits n units locally; ok is false once the outage has closed.
func (o *outage) take(n int, q Quota, t time.Time) (d Decision, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return Decision{}, false
	}
	mine := o.mine.take(n, o.mineLimit, q.Window, t)
	if !mine.OK {
		mine.Used = o.total.usage(q.Limit, q.Window, t).Used
		return mine, true
	}
	d = o.total.take(n, q.Limit, q.Window, t)
	if !d.OK {
		o.mine.refund(mine, q.Window)
	}
	return d, true
}

func (o *outage) refund(d Decision, q Quota) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return // written into the store: the units stay spent there
	}
	o.total.refund(d, q.Window)
	o.mine.refund(d, q.Window)
}

func (o *outage) setRemaining(remaining int, q Quota, t time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.total.setRemaining(remaining, q.Limit, q.Window, t)
	o.remaining = remaining
}

func (o *outage) block(until time.Time, q Quota, t time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.total.block(until, q.Window, t)
	if until.After(o.blocked) {
		o.blocked = until
	}
}

// blockedAt reports whether a block holds the local budget at t.
func (o *outage) blockedAt(q Quota, t time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.total.usage(q.Limit, q.Window, t).Blocked
}

// usage is the outage's budget as a Usage of the quota.
func (o *outage) usage(q Quota, t time.Time) Usage {
	o.mu.Lock()
	defer o.mu.Unlock()
	u := o.total.usage(q.Limit, q.Window, t)
	if mine := o.mine.usage(o.mineLimit, q.Window, t); mine.Remaining < u.Remaining {
		u.Remaining = mine.Remaining
	}
	return u
}

// probe reports whether the caller should ask the store now: a probe is due and
// none is under way, or force (the local budget refused).
func (o *outage) probe(t time.Time, force bool) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed || o.probing || !force && t.Before(o.probeAt) {
		return false
	}
	o.probing = true
	return true
}

// closeInto writes what the outage learned into the store with write, holding the
// outage's lock, and closes it if that worked.
func (o *outage) closeInto(q Quota, t time.Time, write func(mine, remaining int, blocked time.Time) error) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.probing = false
	o.probeAt = t.Add(probeEvery)
	if o.closed {
		return nil
	}
	if err := write(o.mine.usage(o.mineLimit, q.Window, t).Used, o.remaining, o.blocked); err != nil {
		return err
	}
	o.closed = true
	return nil
}

// probeFailed ends a probe that found the store still down.
func (o *outage) probeFailed(t time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.probing = false
	o.probeAt = t.Add(probeEvery)
}

// takeDuringOutage admits n units from o's local budget, probing the store when
// a probe is due or the budget refuses. ok is false when the store is back (the
// outage has closed): the caller then asks the store.
func (l *Limiter) takeDuringOutage(ctx context.Context, o *outage, n int, t time.Time) (d Decision, ok bool) {
	force := false
	for range 2 {
		if o.probe(t, force) && l.endOutage(ctx, o, t) {
			return Decision{}, false
		}
		if d, ok = o.take(n, l.quota, t); !ok || d.OK || force {
			return d, ok
		}
		force = true // refused locally: perhaps the store is back
	}
	return d, ok
}

// endOutage asks the store whether it is back and, if it is, writes the outage
// into it and leaves the fail-open budget. It reports whether the outage ended.
func (l *Limiter) endOutage(ctx context.Context, o *outage, t time.Time) bool {
	if _, err := l.store.Usage(ctx, l.key, l.quota.Limit, l.quota.Window, t); err != nil {
		o.probeFailed(t)
		return false
	}
	var spent int
	err := o.closeInto(l.quota, t, func(mine, remaining int, blocked time.Time) error {
		spent = mine
		return l.writeOutage(context.WithoutCancel(ctx), mine, remaining, blocked, t)
	})
	if err != nil {
		l.logger.Warn("zohoquota: store answered but could not take the units spent locally; staying on the local budget",
			"key", l.key, "units", spent, "err", err)
		return false
	}
	l.out.CompareAndSwap(o, nil)
	l.logger.Info("zohoquota: store back, leaving the local fail-open budget", "key", l.key, "spent_locally", spent)
	return true
}

// writeOutage adds mine units to the store's ledger, then applies the latest
// server figure (if any) and block (if it has not ended).
func (l *Limiter) writeOutage(ctx context.Context, mine, remaining int, blocked time.Time, t time.Time) error {
	q := l.quota
	if mine > 0 {
		d, err := l.store.Take(ctx, l.key, mine, q.Limit, q.Window, t)
		if err != nil {
			return err
		}
		if d.OK {
			l.seen.note(d, time.Now())
		} else if err := l.store.SetRemaining(ctx, l.key, max(0, q.Limit-d.Used-mine), q.Limit, q.Window, t); err != nil {
			// No room (or a block): used goes up by mine all the same, to at most the limit.
			return err
		}
	}
	if remaining >= 0 {
		if err := l.store.SetRemaining(ctx, l.key, remaining, q.Limit, q.Window, t); err != nil {
			return err
		}
	}
	if blocked.After(t) {
		if err := l.store.Block(ctx, l.key, blocked, q.Window, t); err != nil {
			return err
		}
	}
	return nil
}

// storeView is what a limiter's store last said was used: the latest answer by
// the store's clock, so that a slow, older answer cannot overwrite a newer one.
type storeView struct {
	mu   sync.Mutex
	used int
	at   time.Time // the store's clock at that answer
	when time.Time // the local clock when it came
}

func (v *storeView) note(d Decision, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	// At one instant (a batch of takes shares one), the larger count came later.
	if d.At.Before(v.at) || d.At.Equal(v.at) && d.Used < v.used {
		return
	}
	v.used, v.at, v.when = d.Used, d.At, now
}

// raise records a server figure: at least used units are spent.
func (v *storeView) raise(used int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.used = max(v.used, used)
	if v.when.IsZero() {
		v.when = time.Now()
	}
}

func (v *storeView) get() (used int, when time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.used, v.when
}
