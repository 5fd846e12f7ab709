package zohoquota

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// A Permit is an admitted call: its units spent from the quota and, when the quota
// has a concurrency cap, its slots held. Release the slots when the call ends; Refund
// instead when the call never reached Zoho. A Permit is safe for use by multiple
// goroutines; Release and Refund act once between them.
type Permit struct {
	l        *Limiter
	decision Decision
	local    *outage // the fail-open budget that admitted the units, if one did
	lease    Lease
	held     bool
	// localLease is true when the slots came from the local fail-open pool.
	localLease bool

	once      sync.Once
	stopRenew chan struct{}
	renewDone chan struct{}
}

// Cost returns the units the permit spent.
func (p *Permit) Cost() int { return p.decision.Cost }

// Acquire waits for cost units of quota, as WaitN does, and then for one
// concurrency slot. Call release when the call is over (for an HTTP call: when the
// response body is closed); release may be called more than once.
func (l *Limiter) Acquire(ctx context.Context, cost int) (release func(), err error) {
	p, err := l.AcquirePermit(ctx, cost, 1)
	if err != nil {
		return nil, err
	}
	return p.Release, nil
}

// AcquirePermit waits for cost units of quota and then for slots concurrency slots
// (Zoho counts a Composite call as 5). Quota is admitted first and failed fast as in
// WaitN; slots are waited for until ctx ends, and if they are not had the quota is
// refunded. slots is ignored when the quota has no concurrency cap.
func (l *Limiter) AcquirePermit(ctx context.Context, cost, slots int) (*Permit, error) {
	return l.acquirePermit(ctx, cost, slots, true)
}

// acquirePermit is AcquirePermit; with waitQuota false the quota is refused at once
// when the ledger cannot admit cost now, while slots are still waited for.
func (l *Limiter) acquirePermit(ctx context.Context, cost, slots int, waitQuota bool) (*Permit, error) {
	if l.quota.Concurrency > 0 && (slots < 1 || slots > l.quota.Concurrency) {
		return nil, fmt.Errorf("zohoquota: %d concurrency slots: need 1 to %d", slots, l.quota.Concurrency)
	}
	d, local, err := l.waitN(ctx, cost, waitQuota)
	if err != nil {
		return nil, err
	}
	p := &Permit{l: l, decision: d, local: local}
	if l.quota.Concurrency == 0 {
		return p, nil
	}
	lease, localLease, err := l.waitSlots(ctx, slots)
	if err != nil {
		l.refundAfter(ctx, d, local)
		return nil, err
	}
	p.lease, p.held, p.localLease = lease, true, localLease
	if !lease.Expires.IsZero() {
		p.stopRenew = make(chan struct{})
		p.renewDone = make(chan struct{})
		go p.renew()
	}
	return p, nil
}

// refundTimeout bounds a refund made for a caller whose context has ended.
const refundTimeout = 10 * time.Second

// refundAfter gives back what d admitted for a call that will not be made. When
// ctx has ended and the units go back to a shared store, the refund goes on in
// the background (bounded by refundTimeout), so that the caller gets control back
// at its deadline.
func (l *Limiter) refundAfter(ctx context.Context, d Decision, local *outage) {
	refund := func(ctx context.Context) {
		if err := l.refund(ctx, d, local); err != nil {
			l.logger.Warn("zohoquota: refund failed", "key", l.key, "err", err)
		}
	}
	if ctx.Err() == nil || l.mem != nil || local != nil {
		refund(context.WithoutCancel(ctx)) // in memory, or the caller is waiting anyway
		return
	}
	go func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refundTimeout)
		defer cancel()
		refund(rctx)
	}()
}

var errOutage = errors.New("zohoquota: store unavailable: running on the fail-open budget")

// waitSlots blocks until n slots are held or ctx ends. When the store fails and
// the limiter fails open, it holds slots of the local fail-open pool instead
// (local is then true). While an outage is current it does not ask the store at
// all: the quota's probes find out when the store is back.
func (l *Limiter) waitSlots(ctx context.Context, n int) (lease Lease, local bool, err error) {
	waiter, _ := l.store.(slotWaiter)
	for try := 0; ; try++ {
		var freed <-chan struct{}
		if waiter != nil && try > 0 {
			// Ask for the wake-up before trying again, so a release in between is
			// not missed. The first try asks for none: slots are usually free.
			freed = waiter.slotFreed(l.slotKey)
		}
		// Slots held from the local pool during an outage are not in the store:
		// the store may lend only the rest. Each pool counts its slots before it
		// looks at the other's, so that two calls racing through both cannot
		// both miss each other.
		var lease Lease
		// starved: the local pool, or this limiter's own calls, hold what the store
		// would lend; their releases may wake no store waiter, so the call also polls.
		var ok, starved bool
		var err error
		if l.out.Load() != nil {
			err = errOutage // the quota's probes find out when the store is back
		} else {
			// This limiter's own calls never pass the cap either, even when the
			// store has let their leases lapse and would lend the slots again.
			mine := int(l.storeSlots.Add(int64(n)))
			held := 0
			if l.localSlots != nil {
				held, _ = l.localSlots.SlotsInUse(ctx, l.slotKey, time.Now())
			}
			if starved = mine+held > l.quota.Concurrency; !starved {
				lease, ok, err = l.store.AcquireSlots(ctx, l.slotKey, n, l.quota.Concurrency-held, time.Now())
				starved = !ok && held > 0
			}
			if !ok || err != nil {
				l.storeSlots.Add(-int64(n))
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return Lease{}, false, ctx.Err()
			}
			if l.localSlots == nil {
				return Lease{}, false, fmt.Errorf("zohoquota: concurrency slots of %q: %w: %w", l.slotKey, ErrStoreUnavailable, err)
			}
			if try == 0 {
				l.logger.Warn("zohoquota: store unavailable, taking slots from the local fail-open pool", "key", l.slotKey, "err", err)
			}
			// A call needing more slots than the local pool has may still run alone;
			// slots this limiter holds in the store count against the cap.
			lease, ok, _ = l.localSlots.AcquireSlots(ctx, l.slotKey, n, max(n, fraction(l.quota.Concurrency, l.failOpen)), time.Now())
			if ok {
				held, _ := l.localSlots.SlotsInUse(ctx, l.slotKey, time.Now())
				if held+int(l.storeSlots.Load()) <= l.quota.Concurrency {
					return lease, true, nil
				}
				_ = l.localSlots.ReleaseSlots(ctx, l.slotKey, lease)
			}
			freed = nil // the store's wake-up cannot come while it is down: poll
		} else if ok {
			return lease, false, nil
		} else if waiter != nil && try == 0 {
			continue
		}
		if freed != nil {
			var poll <-chan time.Time
			var timer *time.Timer
			if starved {
				timer = time.NewTimer(l.slotPoll)
				poll = timer.C
			}
			select {
			case <-freed:
			case <-poll:
			case <-ctx.Done():
				err = ctx.Err()
			}
			if timer != nil {
				timer.Stop()
			}
			if err != nil {
				return Lease{}, false, err
			}
			continue
		}
		if err := sleep(ctx, l.slotPoll); err != nil {
			return Lease{}, false, err
		}
	}
}

// renew keeps a shared store's lease alive while the call is in flight.
func (p *Permit) renew() {
	defer close(p.renewDone)
	ttl := time.Until(p.lease.Expires)
	t := time.NewTicker(max(ttl/3, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-p.stopRenew:
			return
		case <-t.C:
			if err := p.l.store.RenewSlots(context.Background(), p.l.slotKey, p.lease, time.Now()); err != nil {
				p.l.logger.Warn("zohoquota: renew slot lease failed", "key", p.l.slotKey, "err", err)
			}
		}
	}
}

// Release frees the permit's concurrency slots. The units stay spent.
func (p *Permit) Release() { p.end(false) }

// Refund frees the slots and gives the units back to the quota: use it when the
// call never reached Zoho (it failed before the request was written).
func (p *Permit) Refund() { p.end(true) }

func (p *Permit) end(refund bool) {
	p.once.Do(func() {
		l := p.l
		ctx := context.Background()
		if p.stopRenew != nil {
			close(p.stopRenew)
			<-p.renewDone
		}
		if p.held {
			store := l.store
			if p.localLease {
				store = l.localSlots
			}
			if err := store.ReleaseSlots(ctx, l.slotKey, p.lease); err != nil {
				l.logger.Warn("zohoquota: release slots failed; the lease expires on its own", "key", l.slotKey, "err", err)
			}
			if !p.localLease {
				l.storeSlots.Add(-int64(p.lease.Slots))
			}
		}
		if refund {
			if err := l.refund(ctx, p.decision, p.local); err != nil {
				l.logger.Warn("zohoquota: refund failed", "key", l.key, "err", err)
			}
		}
	})
}
