package zohoquota

import (
	"context"
	"math"
	"sync"
	"time"
)

// Fail-open timing: how often, during an outage, a fail-open limiter asks its
// store whether it is back (sooner when the local budget refuses a call); how
// long calls wait while the outage is being written into the store; and how long
// that write may take before the outage stays open and tries again later.
const (
	probeEvery   = time.Second
	closingWait  = 10 * time.Millisecond
	writeTimeout = 10 * time.Second
)

// An outage is a fail-open limiter's local budget while its store cannot be
// reached. It keeps three ledgers, all in the quota's window: total, the
// organization's units as this limiter knows them (seeded with what the store
// last said was used, then every unit admitted here and every figure the server
// reports), within the quota's limit; mine, the units admitted here, within the
// fail-open fraction of the limit; and unsent, the units admitted here that the
// store has not been told of. A call is admitted when total and mine have room,
// so a day (or a rolling window) that turns during the outage starts afresh.
//
// One call at a time, at most once every probeEvery or when the local budget
// refuses, asks the store whether it is back; the others do not wait for a store
// that is down. When it answers, the outage is closing: it admits nothing while
// it writes what it learned into the store (unsent's units, the latest server
// figure of the current window, the latest block), and then closes; if the write
// fails, it opens again and a later probe writes the rest.
type outage struct {
	mu        sync.Mutex
	total     ledger
	mine      ledger
	unsent    ledger
	mineLimit int

	// remaining is the latest server figure heard (-1 for none), less the units
	// admitted here since it was heard at remainingAt.
	remaining   int
	remainingAt time.Time
	blocked     time.Time // the latest block heard
	closing     bool      // being written into the store: admits nothing for now
	closed      bool      // written into the store: admits nothing more
	probing     bool
	probeAt     time.Time // when the next probe is due
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
		// Seeded when the store said so (a day that has turned since frees it),
		// and with the units of Takes still in flight, which it may admit.
		o.total.addSpent(min(seen, l.quota.Limit), w, when)
		o.total.addSpent(min(int(l.taking.Load()), l.quota.Limit), w, t)
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

// take admits n units locally; ok is false once the outage has closed. While it
// is closing, it refuses with a ResetAt closingWait away.
func (o *outage) take(n int, q Quota, t time.Time) (d Decision, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case o.closed:
		return Decision{}, false
	case o.closing:
		return Decision{Cost: n, Used: o.total.usage(q.Limit, q.Window, t).Used, ResetAt: t.Add(closingWait), At: t}, true
	}
	mine := o.mine.take(n, o.mineLimit, q.Window, t)
	if !mine.OK {
		mine.Used = o.total.usage(q.Limit, q.Window, t).Used
		return mine, true
	}
	d = o.total.take(n, q.Limit, q.Window, t)
	if !d.OK {
		o.mine.refund(mine, q.Window)
		return d, true
	}
	o.unsent.addSpent(n, q.Window, t)
	if o.remaining >= 0 {
		o.remaining = max(0, o.remaining-n)
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
	o.unsent.refund(d, q.Window)
	if o.remaining >= 0 && d.OK && d.At.After(o.remainingAt) {
		o.remaining = min(q.Limit, o.remaining+d.Cost)
	}
}

func (o *outage) setRemaining(remaining int, q Quota, t time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.total.setRemaining(remaining, q.Limit, q.Window, t)
	o.remaining, o.remainingAt = remaining, t
}

func (o *outage) block(until time.Time, q Quota, t time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.total.block(until, q.Window, t)
	if until.After(o.blocked) {
		o.blocked = until
	}
}

// isClosing reports whether the outage is being written into the store.
func (o *outage) isClosing() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.closing
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
	if o.closed || o.closing || o.probing || !force && t.Before(o.probeAt) {
		return false
	}
	o.probing = true
	return true
}

// probeFailed ends a probe that found the store still down.
func (o *outage) probeFailed(t time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.probing = false
	o.probeAt = t.Add(probeEvery)
}

// outageNews is what an outage has to tell the store.
type outageNews struct {
	unsent    int       // units admitted here
	remaining int       // the server's latest figure of the current window, -1 for none
	blocked   time.Time // the latest block, zero if it has ended
}

// startClosing stops the outage admitting and returns what to tell the store.
func (o *outage) startClosing(q Quota, t time.Time) outageNews {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closing = true
	n := outageNews{unsent: o.unsent.usage(q.Limit, q.Window, t).Used, remaining: -1}
	if o.remaining >= 0 && sameWindow(q.Window, o.remainingAt, t) {
		n.remaining = o.remaining
	}
	if o.blocked.After(t) {
		n.blocked = o.blocked
	}
	return n
}

// sameWindow reports whether a figure heard at a still counts at t: in a calendar
// day, until the day ends; in a rolling window, for the window's length (it is
// applied as spent at t, so it frees up late, never early).
func sameWindow(w Window, a, t time.Time) bool {
	if w.IsRolling() {
		return t.Sub(a) < w.Length
	}
	return t.Before(NextReset(a, w.Location()))
}

// finishClosing ends the write: the outage closes, or, if the write failed, opens
// again without the units the store did take.
func (o *outage) finishClosing(q Quota, t time.Time, unitsSent bool, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closing, o.probing = false, false
	o.probeAt = t.Add(probeEvery)
	if unitsSent {
		o.unsent = ledger{}
	}
	if err == nil {
		o.closed = true
	}
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
	news := o.startClosing(l.quota, t)
	// Bounded, since calls wait meanwhile. A write cut short by ctx fails: the
	// outage keeps its units and writes them again later, which can count them
	// twice if the store did take them, never lose them.
	wctx, cancel := context.WithTimeout(ctx, writeTimeout)
	sent, err := l.writeOutage(wctx, news, t)
	cancel()
	o.finishClosing(l.quota, t, sent, err)
	if err != nil {
		l.logger.Warn("zohoquota: store answered but could not take what the outage spent; staying on the local budget",
			"key", l.key, "units", news.unsent, "err", err)
		return false
	}
	l.out.CompareAndSwap(o, nil)
	l.logger.Info("zohoquota: store back, leaving the local fail-open budget", "key", l.key, "spent_locally", news.unsent)
	return true
}

// writeOutage adds the outage's units to the store's ledger, then applies the
// server's latest figure and block. sent reports whether the units are in.
func (l *Limiter) writeOutage(ctx context.Context, news outageNews, t time.Time) (sent bool, err error) {
	q := l.quota
	if news.unsent > 0 {
		d, err := l.store.Take(ctx, l.key, news.unsent, q.Limit, q.Window, t)
		if err != nil {
			return false, err
		}
		if d.OK {
			l.seen.note(d, time.Now())
		} else {
			// No room (or a block): used goes up by the units all the same, to at
			// most the limit. Both are at most the limit: no overflow.
			used := q.Limit - max(0, q.Limit-d.Used-news.unsent)
			if err := l.store.SetRemaining(ctx, l.key, q.Limit-used, q.Limit, q.Window, t); err != nil {
				return false, err
			}
			l.seen.raise(used, q.Window, time.Now())
		}
	}
	if news.remaining >= 0 {
		if err := l.store.SetRemaining(ctx, l.key, news.remaining, q.Limit, q.Window, t); err != nil {
			return true, err
		}
		l.seen.raise(q.Limit-news.remaining, q.Window, time.Now())
	}
	if !news.blocked.IsZero() {
		if err := l.store.Block(ctx, l.key, news.blocked, q.Window, t); err != nil {
			return true, err
		}
	}
	return true, nil
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

// raise records a server figure heard at now: at least used units are spent. A
// figure from an earlier window than now is replaced, not raised.
func (v *storeView) raise(used int, w Window, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if used >= v.used || v.when.IsZero() || !sameWindow(w, v.when, now) {
		v.used, v.when = used, now
	}
}

func (v *storeView) get() (used int, when time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.used, v.when
}
