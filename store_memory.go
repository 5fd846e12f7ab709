package zohoquota

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// MemoryStore is the in-process Store, the default of every Limiter. Limiters that
// share one MemoryStore and one key share one budget. The zero value is not usable;
// call NewMemoryStore.
type MemoryStore struct {
	mu      sync.Mutex
	ledgers map[string]*ledger
	slots   map[string]*slotPool
	nextID  uint64
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty in-process store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{ledgers: make(map[string]*ledger), slots: make(map[string]*slotPool)}
}

func (s *MemoryStore) ledger(key string) *ledger {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.ledgers[key]
	if !ok {
		l = &ledger{}
		s.ledgers[key] = l
	}
	return l
}

// Take implements Store.
func (s *MemoryStore) Take(_ context.Context, key string, cost, limit int, w Window, now time.Time) (Decision, error) {
	return s.ledger(key).take(cost, limit, w, now), nil
}

// Refund implements Store.
func (s *MemoryStore) Refund(_ context.Context, key string, d Decision, w Window) error {
	s.ledger(key).refund(d, w)
	return nil
}

// Usage implements Store.
func (s *MemoryStore) Usage(_ context.Context, key string, limit int, w Window, now time.Time) (Usage, error) {
	return s.ledger(key).usage(limit, w, now), nil
}

// SetRemaining implements Store.
func (s *MemoryStore) SetRemaining(_ context.Context, key string, remaining, limit int, w Window, now time.Time) error {
	s.ledger(key).setRemaining(remaining, limit, w, now)
	return nil
}

// Block implements Store.
func (s *MemoryStore) Block(_ context.Context, key string, until time.Time, w Window, now time.Time) error {
	s.ledger(key).block(until, w, now)
	return nil
}

type slotPool struct {
	inUse  int
	leases map[string]int
	freed  chan struct{} // closed and cleared when slots are released
}

func (s *MemoryStore) pool(key string) *slotPool {
	p, ok := s.slots[key]
	if !ok {
		p = &slotPool{leases: make(map[string]int)}
		s.slots[key] = p
	}
	return p
}

// AcquireSlots implements Store. A limit of 0 means no cap.
func (s *MemoryStore) AcquireSlots(_ context.Context, key string, n, limit int, _ time.Time) (Lease, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pool(key)
	if limit > 0 && p.inUse+n > limit {
		return Lease{}, false, nil
	}
	s.nextID++
	id := strconv.FormatUint(s.nextID, 10)
	p.inUse += n
	p.leases[id] = n
	return Lease{ID: id, Slots: n}, true, nil
}

// RenewSlots implements Store; memory leases do not expire.
func (s *MemoryStore) RenewSlots(context.Context, string, Lease, time.Time) error { return nil }

// ReleaseSlots implements Store.
func (s *MemoryStore) ReleaseSlots(_ context.Context, key string, l Lease) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pool(key)
	n, ok := p.leases[l.ID]
	if !ok {
		return nil
	}
	delete(p.leases, l.ID)
	p.inUse -= n
	if p.freed != nil {
		close(p.freed)
		p.freed = nil
	}
	return nil
}

// SlotsInUse implements Store.
func (s *MemoryStore) SlotsInUse(_ context.Context, key string, _ time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pool(key).inUse, nil
}

func (s *MemoryStore) slotFreed(key string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pool(key)
	if p.freed == nil {
		p.freed = make(chan struct{})
	}
	return p.freed
}

// ledger is one key's integer account of units spent in its window.
type ledger struct {
	mu      sync.Mutex
	last    time.Time // latest time seen: the ledger's clock only moves forward
	used    int
	blocked time.Time // the server refused until then
	// heard is when a server figure (setRemaining) last came in: a decision
	// made before it may be in that figure, so refunding it could free units
	// the server has counted.
	heard time.Time

	// Calendar-day windows.
	resetAt time.Time
	day     time.Time // start of the day being counted

	// Rolling windows: a ring of release buckets, oldest first.
	ring       []bucket
	head, size int
}

// bucket holds the units that free up together at release (Unix nanoseconds).
type bucket struct {
	release int64
	units   int
}

// advance moves the ledger's clock to now (never backwards) and frees what the
// window has let go by then. It returns the clamped time. l.mu must be held.
func (l *ledger) advance(w Window, now time.Time) time.Time {
	if now.Before(l.last) {
		now = l.last
	}
	l.last = now
	if !w.IsRolling() {
		if !now.Before(l.resetAt) {
			loc := w.Location()
			l.used = 0
			l.day = dayStart(now, loc)
			l.resetAt = NextReset(now, loc)
		}
		return now
	}
	t := now.UnixNano()
	for l.size > 0 && l.ring[l.head].release <= t {
		l.used -= l.ring[l.head].units
		l.head = (l.head + 1) % len(l.ring)
		l.size--
	}
	return now
}

// releaseOf returns when units spent at t free up: the end of the bucket [k·b, (k+1)·b)
// that holds t, plus the window. Units come back late, never early, even against a
// server that keeps the same buckets and frees each one a window after its last
// charge: t on a bucket's first instant is released with the rest of that bucket,
// not a whole bucket sooner.
func releaseOf(w Window, t time.Time) int64 {
	b := int64(w.BucketSize())
	n := t.UnixNano()
	k := n / b
	if n%b < 0 {
		k-- // floor, for times before 1970
	}
	return (k+1)*b + int64(w.Length)
}

// spend records units spent at now. l.mu must be held.
func (l *ledger) spend(units int, w Window, now time.Time) {
	l.used += units
	if !w.IsRolling() {
		return
	}
	rel := releaseOf(w, now)
	if l.size > 0 {
		tail := &l.ring[(l.head+l.size-1)%len(l.ring)]
		if tail.release >= rel {
			tail.units += units
			return
		}
	}
	if l.size == len(l.ring) {
		l.grow()
	}
	l.ring[(l.head+l.size)%len(l.ring)] = bucket{release: rel, units: units}
	l.size++
}

func (l *ledger) grow() {
	ring := make([]bucket, max(16, 2*len(l.ring)))
	for i := range l.size {
		ring[i] = l.ring[(l.head+i)%len(l.ring)]
	}
	l.ring, l.head = ring, 0
}

// freeAt returns when need more units will have freed up. l.mu must be held.
func (l *ledger) freeAt(need int, w Window, now time.Time) time.Time {
	if !w.IsRolling() {
		return l.resetAt
	}
	freed := 0
	for i := range l.size {
		b := l.ring[(l.head+i)%len(l.ring)]
		freed += b.units
		if freed >= need {
			return time.Unix(0, b.release)
		}
	}
	// Nothing the ledger holds frees enough (a server-reported figure); the window's
	// length is the longest any spending can take to come back.
	return now.Add(w.Length)
}

// nextFree returns when the next unit frees up. l.mu must be held.
func (l *ledger) nextFree(w Window) time.Time {
	if !w.IsRolling() {
		return l.resetAt
	}
	if l.size == 0 {
		return time.Time{}
	}
	return time.Unix(0, l.ring[l.head].release)
}

func (l *ledger) take(cost, limit int, w Window, now time.Time) Decision {
	l.mu.Lock()
	defer l.mu.Unlock()
	now = l.advance(w, now)
	d := Decision{Cost: cost, At: now}
	if now.Before(l.blocked) {
		d.Used, d.ResetAt = l.used, l.blocked
		return d
	}
	// used never exceeds limit, so limit-used cannot overflow where used+cost
	// could, with a limit near math.MaxInt.
	if cost > limit-l.used {
		d.Used = l.used
		d.ResetAt = l.freeAt(cost-(limit-l.used), w, now)
		return d
	}
	l.spend(cost, w, now)
	d.OK, d.Used, d.ResetAt = true, l.used, l.nextFree(w)
	return d
}

func (l *ledger) refund(d Decision, w Window) {
	if !d.OK || d.Cost <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.advance(w, l.last)
	if !l.heard.Before(d.At) {
		return // kept spent: under-using beats counting what Zoho counted as free
	}
	if !w.IsRolling() {
		if dayStart(d.At, w.Location()).Equal(l.day) {
			l.used = max(0, l.used-d.Cost)
		}
		return
	}
	rel := releaseOf(w, d.At)
	for i := l.size - 1; i >= 0; i-- {
		b := &l.ring[(l.head+i)%len(l.ring)]
		if b.release == rel {
			n := min(b.units, d.Cost)
			b.units -= n
			l.used -= n
			return
		}
		if b.release < rel {
			return
		}
	}
}

func (l *ledger) usage(limit int, w Window, now time.Time) Usage {
	l.mu.Lock()
	defer l.mu.Unlock()
	now = l.advance(w, now)
	u := Usage{Limit: limit, Used: l.used, Remaining: max(0, limit-l.used), ResetAt: l.nextFree(w)}
	if now.Before(l.blocked) {
		u.Remaining, u.ResetAt, u.Blocked = 0, l.blocked, true
	}
	return u
}

func (l *ledger) setRemaining(remaining, limit int, w Window, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now = l.advance(w, now)
	l.heard = now
	if extra := limit - remaining - l.used; extra > 0 {
		l.spend(extra, w, now)
	}
}

// addSpent counts units as spent at now, outside any limit: what a store
// reported used, or what a fail-open outage has not yet told the store.
func (l *ledger) addSpent(units int, w Window, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now = l.advance(w, now)
	if units > 0 {
		l.spend(units, w, now)
	}
}

func (l *ledger) block(until time.Time, w Window, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.advance(w, now)
	if until.After(l.blocked) {
		l.blocked = until
	}
}
