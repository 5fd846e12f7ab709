package zohoquota

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// A Limiter keeps an integration inside one Zoho CRM organization's quota.
//
// It holds three things: an integer ledger of the units spent in the quota's window
// (requests per calendar day for the v1 API, credits over a rolling 24 hours for the
// current API), kept in a Store so that several processes can share it; an optional
// token bucket from golang.org/x/time/rate that paces the rest of the budget over
// the rest of the window (WithPacing); and the concurrency slots the edition allows.
//
// Allow and AllowN never block: they admit the units now or report false. Wait and
// WaitN block until the units are admitted, but return a *QuotaError at once when the
// context's deadline ends before that could happen. Acquire does what WaitN does and
// also holds a concurrency slot until the returned release func is called; slots are
// waited for, the quota is not. Units refused are never consumed.
//
// A Limiter runs no goroutines of its own (a lease renewer runs only while a shared
// store's slot is held) and is safe for use by multiple goroutines.
type Limiter struct {
	quota    Quota
	store    Store
	key      string
	slotKey  string
	mem      *ledger // the ledger itself when the store is a *MemoryStore: no lookups
	pacer    *rate.Limiter
	burst    int
	failOpen float64
	// localSlots is the fail-open pool of concurrency slots: fraction × the
	// quota's concurrency (a call needing more may run alone), less the slots
	// this limiter holds in the store, used while the store cannot be reached.
	localSlots *MemoryStore
	slotPoll   time.Duration
	logger     *slog.Logger

	// What the store last said, for the budget of the next outage: the units
	// used, and the end of the latest block (Unix nanoseconds).
	seen         storeView
	blockedUntil atomic.Int64
	// storeSlots is how many slots this limiter holds, or is asking for, in
	// the store; taking, how many units its Takes in flight ask for.
	storeSlots atomic.Int64
	taking     atomic.Int64

	out atomic.Pointer[outage] // the fail-open budget, while the store cannot be reached

	mu      sync.Mutex
	pacedAt time.Time // when the pacing rate was last read from a shared store
}

// An Option configures a Limiter.
type Option func(*Limiter) error

// WithStore keeps the ledger in s instead of a new in-process MemoryStore.
func WithStore(s Store) Option {
	return func(l *Limiter) error {
		if s == nil {
			return errors.New("zohoquota: WithStore(nil): need a store")
		}
		l.store = s
		return nil
	}
}

// WithKey names the budget in the store: one key per Zoho organization, so that
// tenants never share a budget by accident. The default is "default".
func WithKey(org string) Option {
	return func(l *Limiter) error {
		if org == "" {
			return errors.New("zohoquota: WithKey(\"\"): need a non-empty key")
		}
		l.key = org
		return nil
	}
}

// WithSlotKey names the concurrency slots. Zoho counts calls in flight per user per
// OAuth client, so give each user/client pair its own; the default is the quota key.
func WithSlotKey(userAndClient string) Option {
	return func(l *Limiter) error {
		if userAndClient == "" {
			return errors.New("zohoquota: WithSlotKey(\"\"): need a non-empty key")
		}
		l.slotKey = userAndClient
		return nil
	}
}

// WithPacing spreads the rest of the budget over the rest of the window with a token
// bucket of the given burst: in a calendar-day window the rate is the remaining units
// over the time to the reset, in a rolling window the limit over the window's length.
// A bulk job then cannot burn the day's quota in the morning.
func WithPacing(burst int) Option {
	return func(l *Limiter) error {
		if burst < 1 {
			return fmt.Errorf("zohoquota: WithPacing(%d): burst must be at least 1", burst)
		}
		l.burst = burst
		return nil
	}
}

// WithFailOpen makes the limiter run on a local budget while the store cannot be
// reached, instead of refusing (the default, fail closed). The budget counts from
// what the store last said was used and admits at most fraction × the quota's limit
// a window itself, never past the limit; concurrency slots come from a local pool
// of fraction × the concurrency cap, less the slots this limiter holds in the store
// (a call needing more slots than the pool has may run alone). The fraction must be
// in (0, 1].
//
// During an outage one call at a time, at most once a second or when the local
// budget refuses, asks the store whether it is back; the others do not wait for a
// store that is down. When it answers, the limiter writes what it spent locally,
// and the server's latest remaining figure and block, into the store and goes back
// to it. Other processes sharing the budget cannot see the local spending until
// then: with N processes failing open, an outage can admit up to N × fraction ×
// limit more than the store had room for.
func WithFailOpen(fraction float64) Option {
	return func(l *Limiter) error {
		if !(fraction > 0 && fraction <= 1) {
			return fmt.Errorf("zohoquota: WithFailOpen(%v): fraction must be in (0, 1]", fraction)
		}
		l.failOpen = fraction
		return nil
	}
}

// WithSlotPoll sets how often a waiter polls a shared store for a free concurrency
// slot (the memory store wakes waiters directly). The default is 25ms.
func WithSlotPoll(d time.Duration) Option {
	return func(l *Limiter) error {
		if d <= 0 {
			return fmt.Errorf("zohoquota: WithSlotPoll(%v): need a positive duration", d)
		}
		l.slotPoll = d
		return nil
	}
}

// WithLogger logs store failures and fail-open switches to logger. The default
// discards them.
func WithLogger(logger *slog.Logger) Option {
	return func(l *Limiter) error {
		l.logger = logger
		return nil
	}
}

// NewLimiter returns a limiter that enforces q.
func NewLimiter(q Quota, opts ...Option) (*Limiter, error) {
	if err := q.validate(); err != nil {
		return nil, err
	}
	l := &Limiter{quota: q, key: "default", slotPoll: 25 * time.Millisecond}
	for _, opt := range opts {
		if err := opt(l); err != nil {
			return nil, err
		}
	}
	if l.store == nil {
		l.store = NewMemoryStore()
	}
	if l.slotKey == "" {
		l.slotKey = l.key
	}
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	if m, ok := l.store.(*MemoryStore); ok {
		l.mem = m.ledger(l.key)
	}
	if l.failOpen > 0 {
		l.localSlots = NewMemoryStore()
	}
	if l.burst > 0 {
		l.pacer = rate.NewLimiter(l.steadyRate(), l.burst)
	}
	return l, nil
}

// Quota returns the quota the limiter enforces.
func (l *Limiter) Quota() Quota { return l.quota }

// Key returns the name of the limiter's budget in its store.
func (l *Limiter) Key() string { return l.key }

func (l *Limiter) steadyRate() rate.Limit {
	w := l.quota.Window
	period := w.Length
	if !w.IsRolling() {
		period = 24 * time.Hour
	}
	return rate.Limit(float64(l.quota.Limit) / period.Seconds())
}

// Allow is shorthand for AllowN(1).
func (l *Limiter) Allow() bool { return l.AllowN(1) }

// AllowN reports whether n units may be spent now, and spends them if so. With
// WithPacing, n above the burst is never allowed at once (the bucket never holds
// that much): use WaitN, which paces it in parts.
func (l *Limiter) AllowN(n int) bool { return l.AllowNAt(time.Now(), n) }

// AllowNAt is AllowN at time t. The ledger's clock only moves forward, so a t in
// the future moves it for every caller of the limiter (and of its store key): units
// then free up by that clock. Pass times near the present.
func (l *Limiter) AllowNAt(t time.Time, n int) bool {
	if n == 0 {
		return true
	}
	if n < 0 || n > l.quota.Limit {
		return false
	}
	if l.pacer != nil && n > l.burst {
		return false // the bucket never holds that much: no reservations to make
	}
	var res []*rate.Reservation
	if l.pacer != nil {
		var delay time.Duration
		res, delay = l.pace(t, n)
		if delay > 0 {
			cancelAll(res, t)
			return false
		}
	}
	d, _, err := l.take(context.Background(), n, t)
	if err != nil || !d.OK {
		cancelAll(res, t)
		return false
	}
	return true
}

// take asks the store (or its fail-open budget) for n units. local is the
// fail-open budget that made the decision, if one did, so that a refund goes back
// there.
func (l *Limiter) take(ctx context.Context, n int, t time.Time) (d Decision, local *outage, err error) {
	if l.mem != nil {
		return l.mem.take(n, l.quota.Limit, l.quota.Window, t), nil, nil
	}
	if o := l.out.Load(); o != nil {
		if d, ok := l.takeDuringOutage(ctx, o, n, t); ok {
			return d, o, nil
		}
		// The outage is over: ask the store.
	}
	if l.failOpen > 0 {
		// Until noted, units the store may admit count in an outage that another
		// call starts meanwhile.
		l.taking.Add(int64(n))
	}
	d, err = l.store.Take(ctx, l.key, n, l.quota.Limit, l.quota.Window, t)
	if l.failOpen > 0 {
		if err == nil {
			l.seen.note(d, time.Now())
		}
		l.taking.Add(-int64(n))
	}
	if err == nil {
		return d, nil, nil
	}
	if ctx.Err() != nil {
		return Decision{}, nil, ctx.Err()
	}
	if errors.Is(err, ErrCostAboveLimit) {
		return Decision{}, nil, err // the store answered: no window of it admits that much
	}
	if l.failOpen == 0 {
		l.logger.Warn("zohoquota: store unavailable, refusing (fail closed)", "key", l.key, "err", err)
		return Decision{}, nil, fmt.Errorf("zohoquota: %q refused, fail closed: %w: %w", l.key, ErrStoreUnavailable, err)
	}
	o := l.outage(t)
	if d, ok := o.take(n, l.quota, t); ok {
		return d, o, nil
	}
	return l.take(ctx, n, t) // it closed meanwhile: the store is back
}

// refund gives back what d admitted, to wherever it was taken from.
func (l *Limiter) refund(ctx context.Context, d Decision, local *outage) error {
	switch {
	case l.mem != nil:
		l.mem.refund(d, l.quota.Window)
	case local != nil:
		local.refund(d, l.quota)
	default:
		return l.store.Refund(ctx, l.key, d, l.quota.Window)
	}
	return nil
}

// pace reserves n tokens from the pacing bucket, in burst-sized parts when n is
// larger than the burst (x/time/rate cannot reserve more than its burst at once).
func (l *Limiter) pace(t time.Time, n int) ([]*rate.Reservation, time.Duration) {
	l.updatePace(t)
	var res []*rate.Reservation
	var delay time.Duration
	for n > 0 {
		k := min(n, l.burst)
		r := l.pacer.ReserveN(t, k)
		res = append(res, r)
		delay = max(delay, r.DelayFrom(t))
		n -= k
	}
	return res, delay
}

// updatePace sets the bucket's rate for a calendar-day window to the remaining
// budget over the time left in the day.
func (l *Limiter) updatePace(t time.Time) {
	w := l.quota.Window
	if w.IsRolling() {
		return
	}
	if l.mem == nil {
		// A shared store costs a round trip to read: once a second is enough to
		// follow the day's remaining budget.
		l.mu.Lock()
		fresh := !t.Before(l.pacedAt) && t.Sub(l.pacedAt) < time.Second
		if !fresh {
			l.pacedAt = t
		}
		l.mu.Unlock()
		if fresh {
			return
		}
	}
	u, err := l.usageAt(context.Background(), t)
	if err != nil {
		return
	}
	left := u.ResetAt.Sub(t)
	if left <= 0 || u.Remaining <= 0 {
		return
	}
	l.pacer.SetLimitAt(t, rate.Limit(float64(u.Remaining)/left.Seconds()))
}

// cancelAll gives back the reserved tokens. x/time/rate restores a cancelled
// reservation's tokens only as far as no later reservation depends on them, so the
// newest is cancelled first.
func cancelAll(res []*rate.Reservation, t time.Time) {
	for i := len(res) - 1; i >= 0; i-- {
		res[i].CancelAt(t)
	}
}

// Wait is shorthand for WaitN(ctx, 1).
func (l *Limiter) Wait(ctx context.Context) error { return l.WaitN(ctx, 1) }

// WaitN blocks until n units are admitted, or ctx ends. When ctx has a deadline
// before the moment the units could be admitted, it returns a *QuotaError at once.
// A cost above the quota's whole limit is an error wrapping ErrCostAboveLimit.
func (l *Limiter) WaitN(ctx context.Context, n int) error {
	_, _, err := l.waitN(ctx, n, true)
	return err
}

func (l *Limiter) checkCost(n int) error {
	if n < 0 {
		return fmt.Errorf("zohoquota: cost %d: need 0 or more", n)
	}
	if n > l.quota.Limit {
		return fmt.Errorf("zohoquota: cost %d, limit %d per window: %w", n, l.quota.Limit, ErrCostAboveLimit)
	}
	return nil
}

// waitN is WaitN that returns the admitting decision and whether it came from the
// local fail-open budget, for a later refund. With waitQuota false it refuses at
// once, with a *QuotaError, units the ledger cannot admit now (pacing is still
// waited for): that is how Transport fails fast.
func (l *Limiter) waitN(ctx context.Context, n int, waitQuota bool) (Decision, *outage, error) {
	if err := l.checkCost(n); err != nil {
		return Decision{}, nil, err
	}
	if n == 0 {
		return Decision{OK: true}, nil, nil
	}
	if err := ctx.Err(); err != nil {
		return Decision{}, nil, err
	}
	deadline, hasDeadline := ctx.Deadline()
	if l.pacer != nil {
		now := time.Now()
		res, delay := l.pace(now, n)
		if hasDeadline && deadline.Before(now.Add(delay)) {
			cancelAll(res, now)
			e := &QuotaError{Key: l.key, Cost: n, Limit: l.quota.Limit, ResetAt: now.Add(delay), Deadline: deadline, Paced: true}
			if u, err := l.usageAt(ctx, now); err == nil {
				e.Used = u.Used
			}
			return Decision{}, nil, e
		}
		if err := sleep(ctx, delay); err != nil {
			cancelAll(res, time.Now())
			return Decision{}, nil, err
		}
	}
	for {
		now := time.Now()
		d, local, err := l.take(ctx, n, now)
		if err != nil {
			return Decision{}, nil, err
		}
		if d.OK {
			return d, local, nil
		}
		// A store that names no moment in the future must not make this loop spin.
		wait := max(d.ResetAt.Sub(d.At), time.Millisecond)
		if local != nil {
			wait = min(wait, probeEvery) // the store may be back before then
		}
		if local != nil && local.isClosing() {
			// Not a refusal: the outage is being written into the store.
			if err := sleep(ctx, closingWait); err != nil {
				return Decision{}, nil, err
			}
			continue
		}
		if !waitQuota || hasDeadline && deadline.Before(now.Add(wait)) {
			// Refused with room in the ledger: the server's block (Exhaust) holds it.
			blocked := d.Used+n <= l.quota.Limit
			if local != nil {
				blocked = local.blockedAt(l.quota, now)
			}
			e := &QuotaError{Key: l.key, Cost: n, Used: d.Used, Limit: l.quota.Limit, ResetAt: now.Add(wait), Blocked: blocked}
			if waitQuota && hasDeadline && deadline.Before(e.ResetAt) {
				e.Deadline = deadline
			}
			return Decision{}, nil, e
		}
		if err := sleep(ctx, wait); err != nil {
			return Decision{}, nil, err
		}
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Usage returns a snapshot of the budget. When the store cannot be read it reports
// the limit with nothing remaining; UsageContext returns the error.
func (l *Limiter) Usage() Usage {
	u, err := l.UsageContext(context.Background())
	if err != nil {
		return Usage{Limit: l.quota.Limit, Used: l.quota.Limit}
	}
	return u
}

// UsageContext is Usage with a context and the store's error.
func (l *Limiter) UsageContext(ctx context.Context) (Usage, error) {
	u, err := l.usageAt(ctx, time.Now())
	if err != nil {
		return u, err
	}
	if l.quota.Concurrency > 0 && l.out.Load() != nil {
		// The store is down: this limiter's own calls in flight, from both pools.
		local, _ := l.localSlots.SlotsInUse(ctx, l.slotKey, time.Now())
		u.InFlight = local + int(l.storeSlots.Load())
	} else if l.quota.Concurrency > 0 {
		n, err := l.store.SlotsInUse(ctx, l.slotKey, time.Now())
		if err != nil {
			return u, fmt.Errorf("zohoquota: read slots of %q: %w: %w", l.slotKey, ErrStoreUnavailable, err)
		}
		u.InFlight = n
	}
	return u, nil
}

func (l *Limiter) usageAt(ctx context.Context, t time.Time) (Usage, error) {
	if l.mem != nil {
		return l.mem.usage(l.quota.Limit, l.quota.Window, t), nil
	}
	if o := l.out.Load(); o != nil {
		return o.usage(l.quota, t), nil // the budget in use; the store is down
	}
	u, err := l.store.Usage(ctx, l.key, l.quota.Limit, l.quota.Window, t)
	if err != nil {
		return Usage{Limit: l.quota.Limit}, fmt.Errorf("zohoquota: read usage of %q: %w: %w", l.key, ErrStoreUnavailable, err)
	}
	return u, nil
}

// SetRemaining applies a remaining figure the server reported (X-API-CREDITS-REMAINING,
// X-RATELIMIT-DAY-REMAINING): the ledger's used count becomes at least limit-remaining.
// A figure above the local one frees nothing, since it may predate calls in flight.
func (l *Limiter) SetRemaining(ctx context.Context, remaining int) error {
	if remaining < 0 {
		return fmt.Errorf("zohoquota: remaining %d: need 0 or more", remaining)
	}
	now := time.Now()
	if l.mem != nil {
		l.mem.setRemaining(remaining, l.quota.Limit, l.quota.Window, now)
		return nil
	}
	if o := l.out.Load(); o != nil {
		// The fail-open budget hears the server too, and tells the store when it
		// is back.
		o.setRemaining(remaining, l.quota, now)
	}
	if err := l.store.SetRemaining(ctx, l.key, remaining, l.quota.Limit, l.quota.Window, now); err != nil {
		if o := l.out.Load(); o == nil && l.failOpen > 0 && ctx.Err() == nil {
			l.outage(now).setRemaining(remaining, l.quota, now)
		}
		return fmt.Errorf("zohoquota: apply remaining %d to %q: %w: %w", remaining, l.key, ErrStoreUnavailable, err)
	}
	l.seen.raise(max(0, l.quota.Limit-remaining), l.quota.Window, now) // for the budget of a later outage
	return nil
}

// atomicMax sets a to v if v is larger.
func atomicMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// Exhaust marks the quota spent until the given time: the server refused a call, so
// further calls fail fast locally instead of hammering Zoho.
func (l *Limiter) Exhaust(ctx context.Context, until time.Time) error {
	now := time.Now()
	if l.mem != nil {
		l.mem.block(until, l.quota.Window, now)
		return nil
	}
	atomicMax(&l.blockedUntil, until.UnixNano()) // for the budget of a later outage
	if o := l.out.Load(); o != nil {
		o.block(until, l.quota, now)
	}
	if err := l.store.Block(ctx, l.key, until, l.quota.Window, now); err != nil {
		if o := l.out.Load(); o == nil && l.failOpen > 0 && ctx.Err() == nil {
			l.outage(now).block(until, l.quota, now)
		}
		return fmt.Errorf("zohoquota: block %q until %s: %w: %w", l.key, until.Format(time.RFC3339), ErrStoreUnavailable, err)
	}
	return nil
}
