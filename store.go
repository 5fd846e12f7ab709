package zohoquota

import (
	"context"
	"time"
)

// Store keeps quota ledgers and concurrency slots, each named by a key. It is the seam
// through which several limiters, in one process or many, share one organization's
// budget. The in-process MemoryStore is the default; package redisstore shares a
// budget between processes.
//
// Every method must be safe for concurrent use. A Store takes time as a value so that
// tests need no clock; a store shared between machines may use its own clock instead
// (redisstore uses Redis TIME) and reports the time it used in Decision.At, so callers
// compute waits as Decision.ResetAt.Sub(Decision.At), free of clock skew.
type Store interface {
	// Take admits cost units against limit within window w, or refuses them, in one
	// atomic step. A refusal consumes nothing.
	Take(ctx context.Context, key string, cost, limit int, w Window, now time.Time) (Decision, error)
	// Refund gives back exactly the units of an admitted Decision. The caller calls it
	// at most once per Decision; units that have already freed up are not given twice,
	// and a Decision made before the latest SetRemaining gives nothing back, since
	// the server's figure may count its units.
	Refund(ctx context.Context, key string, d Decision, w Window) error
	// Usage reports the ledger of key without changing it (InFlight is left 0).
	Usage(ctx context.Context, key string, limit int, w Window, now time.Time) (Usage, error)
	// SetRemaining applies a remaining figure the server reported: used becomes at
	// least limit-remaining. It never frees units; a stale figure racing with calls
	// in flight must not over-admit.
	SetRemaining(ctx context.Context, key string, remaining, limit int, w Window, now time.Time) error
	// Block refuses every Take for key until the given time (the server said no).
	Block(ctx context.Context, key string, until time.Time, w Window, now time.Time) error

	// AcquireSlots takes n of limit concurrency slots for key without waiting;
	// ok is false when they are not free.
	AcquireSlots(ctx context.Context, key string, n, limit int, now time.Time) (l Lease, ok bool, err error)
	// RenewSlots extends a lease that has an expiry; stores without expiries return nil.
	RenewSlots(ctx context.Context, key string, l Lease, now time.Time) error
	// ReleaseSlots frees a lease's slots; releasing a lease twice frees them once.
	ReleaseSlots(ctx context.Context, key string, l Lease) error
	// SlotsInUse reports how many slots of key are held now.
	SlotsInUse(ctx context.Context, key string, now time.Time) (int, error)
}

// Decision is a Store's answer to Take.
type Decision struct {
	OK   bool // the units were admitted
	Cost int  // units asked for
	Used int  // units spent in the window after this decision
	// ResetAt is, after a refusal, the earliest moment Cost units could be admitted;
	// after an admission, the moment the next unit frees up (zero if none is spent).
	ResetAt time.Time
	// At is the store's clock at the decision; Refund uses it to find the units.
	At time.Time
}

// Lease is a hold on concurrency slots.
type Lease struct {
	ID    string
	Slots int
	// Expires is when a shared store frees the slots unless renewed, in the clock
	// of the caller of AcquireSlots (its now plus the lease's TTL), so that a
	// renewer can time itself with time.Until; zero means the lease lasts until
	// released (the memory store).
	Expires time.Time
}

// Usage is a snapshot of a limiter's budget.
type Usage struct {
	Limit     int
	Used      int
	Remaining int
	InFlight  int // concurrency slots held
	// ResetAt is when the next unit frees up: the next midnight of a daily window,
	// the oldest spending's release in a rolling one (zero when nothing is spent),
	// or the end of a block the server imposed.
	ResetAt time.Time
	// Blocked is true while the server's refusal (Limiter.Exhaust) holds the quota
	// spent: Remaining is then 0 whatever Used says, until ResetAt.
	Blocked bool
}

// slotWaiter is implemented by stores that can wake waiters when slots free up,
// instead of having them poll.
type slotWaiter interface {
	slotFreed(key string) <-chan struct{}
}
