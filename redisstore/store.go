// Package redisstore keeps zohoquota ledgers and concurrency slots in Redis, so that
// many processes share one Zoho organization's budget.
package redisstore

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zohoquota/zohoquota"
)

// Store is a zohoquota.Store on Redis. Every operation is one Lua script run with
// EVALSHA (go-redis falls back to EVAL, which loads the script, when Redis answers
// NOSCRIPT after a restart or SCRIPT FLUSH), so an admission is at most one round
// trip and atomic however many processes share the budget; concurrent Takes of one
// key share a call (see Take).
//
// # Time
//
// Ledger time is the Redis server's clock (TIME inside the script), not the
// callers': the now argument of the Store methods is ignored for the ledger, and
// Decision.At, Decision.ResetAt and Usage.ResetAt are in Redis time, so a caller
// computes a wait as ResetAt.Sub(At), free of its own clock's skew. The ledger's
// clock only moves forward: each write records the time it used, and a later call
// uses at least that. Block's until is read relative to the caller's now (the
// server asked for until-now more), and Lease.Expires is in the caller's clock
// (now plus the lease TTL), which is what a renewer needs.
//
// # Keys
//
// Every key starts with the prefix and the key of the budget in a hash tag,
// "zohoquota:{org}:", so that one budget's keys live in one Redis Cluster slot;
// the braces of the tag are escaped in the key ("{" as %7B, "}" as %7D, "%" as
// %25). Every key has an expiry, set by the same script that writes it:
//
//	zohoquota:{org}:day       hash of a calendar-day ledger: the units spent on the
//	                          current day under its date in the quota's zone
//	                          ("2026-12-03"), last (the ledger's clock) and blk
//	                          (refused until); expires an hour after the day (or
//	                          the block) ends, and drops earlier dates when a day
//	                          begins
//	zohoquota:{org}:roll      hash of a rolling ledger: used, last, blk, the units
//	                          of each release bucket under its release time, and
//	                          head, tail, tu (the oldest and newest release, the
//	                          newest's units) so that most admissions need not read
//	                          the sorted set
//	zohoquota:{org}:roll:rel  sorted set of the release times held in :roll
//	zohoquota:{slotkey}:slots sorted set of lease IDs ("<random>:<slots>") scored by
//	                          expiry; slotkey is the limiter's slot key
//
// Times in keys and values are Unix microseconds. An admission runs TIME, HMGET
// and HSET inside the script (a rolling window adds ZADD and two PEXPIREs when it
// opens a new bucket, and a purge when one is released). All processes sharing a
// budget must use the same quota (limit, window and zone): a calendar day is named
// by its date in the quota's zone, and two zones name different days.
//
// # Calendar days
//
// A calendar-day window counts under the local date, in the quota's zone, of the
// Redis time. The script reads that time itself, so it cannot be told the date in
// advance; instead the caller passes three consecutive days (their dates, their
// starts and the end of the last, computed with zohoquota.StartOfDay in the zone, so DST days
// of 23 and 25 hours are right) around its guess of the Redis clock, and the script
// picks the day that holds its time. The guess is the local clock corrected by the
// offset seen in the last answer, so in practice the middle day is the one used.
// When Redis's time falls outside the three days (a clock more than a day off), the
// script says so and returns its time, and the caller asks again around it: a
// second round trip, once.
//
// Run Redis with maxmemory-policy noeviction (the default): every key here has an
// expiry, so a volatile-* policy could evict a ledger and forget spent units.
//
// A Store is safe for use by multiple goroutines.
type Store struct {
	c      redis.UniversalClient
	prefix string
	ttl    time.Duration
	keep   time.Duration
	shift  time.Duration // added to Redis TIME; set only by this package's tests

	// skew is the Redis clock minus the local clock at the last answer, in
	// microseconds: the guess of the Redis clock that picks the calendar days.
	skew atomic.Int64
	days atomic.Pointer[days] // the calendar days of the last call

	mu     sync.Mutex
	queues map[batchKey]*queue // the Takes waiting for a call in flight, by batch

	// onBatch, when set (by this package's tests), sees every take call: the key,
	// the costs in the order sent, and the answer.
	onBatch func(key string, costs []int, ds []zohoquota.Decision, err error)
}

var _ zohoquota.Store = (*Store)(nil)

// An Option configures a Store.
type Option func(*Store)

// WithPrefix sets the first part of every key; the default is "zohoquota". An
// empty prefix keeps the default.
func WithPrefix(prefix string) Option {
	return func(s *Store) {
		if prefix != "" {
			s.prefix = prefix
		}
	}
}

// WithLeaseTTL sets how long concurrency slots stay held unless renewed; the
// default is 30 seconds. A Permit renews its lease every third of the TTL, so a
// process killed while holding slots frees them within one TTL. A TTL of 0 or less
// keeps the default.
func WithLeaseTTL(ttl time.Duration) Option {
	return func(s *Store) {
		if ttl > 0 {
			s.ttl = ttl
		}
	}
}

// DefaultLeaseTTL is the lease TTL of a Store built without WithLeaseTTL.
const DefaultLeaseTTL = 30 * time.Second

// ErrLeaseLost is returned by RenewSlots when the lease has lapsed (its holder did
// not renew it in time) and its slots are no longer free.
var ErrLeaseLost = errors.New("zohoquota: redisstore: lease expired or released")

// NewFromClient returns a Store that keeps its keys in the Redis behind c: a
// *redis.Client, a *redis.ClusterClient or a failover client. The caller owns c
// and closes it.
func NewFromClient(c redis.UniversalClient, opts ...Option) *Store {
	s := &Store{c: c, prefix: "zohoquota", ttl: DefaultLeaseTTL, keep: time.Hour}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

var (
	//go:embed day.lua
	daySrc string
	//go:embed rolling.lua
	rollingSrc string
	//go:embed slots.lua
	slotsSrc string

	dayScript     = redis.NewScript(daySrc)
	rollingScript = redis.NewScript(rollingSrc)
	slotsScript   = redis.NewScript(slotsSrc)
)

// run runs a script and returns its integer answers.
func (s *Store) run(ctx context.Context, sc *redis.Script, keys []string, args ...any) ([]int64, error) {
	v, err := sc.Run(ctx, s.c, keys, args...).Result()
	if err != nil {
		return nil, fmt.Errorf("zohoquota: redisstore: %w", err)
	}
	switch v := v.(type) {
	case int64:
		return []int64{v}, nil
	case []any:
		out := make([]int64, len(v))
		for i, e := range v {
			n, ok := e.(int64)
			if !ok {
				return nil, fmt.Errorf("zohoquota: redisstore: script answered %T in %v", e, v)
			}
			out[i] = n
		}
		return out, nil
	}
	return nil, fmt.Errorf("zohoquota: redisstore: script answered %T", v)
}

// seen records the Redis clock of an answer, for the next guess.
func (s *Store) seen(redisMicros int64) {
	s.skew.Store(redisMicros - time.Now().UnixMicro())
}

// guess returns the local clock corrected to the Redis clock.
func (s *Store) guess() time.Time {
	return time.Now().Add(time.Duration(s.skew.Load()) * time.Microsecond)
}

var escaper = strings.NewReplacer("%", "%25", "{", "%7B", "}", "%7D")

// tag returns the prefix and hash tag of every key of budget key.
func (s *Store) tag(key string) string {
	return s.prefix + ":{" + escaper.Replace(key) + "}"
}

func micros(d time.Duration) int64 { return d.Microseconds() }

func usTime(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us)
}

// Take implements zohoquota.Store. The now argument is ignored: the ledger runs on
// the Redis clock.
//
// Concurrent Takes of one key, limit and window in this Store are coalesced: while
// one script call for them is in flight, further Takes queue up, and when it
// answers, one of the queued callers sends all of them in one call, which decides
// them in order, each on its own, as that many Takes in a row would be (they share
// one Decision.At). A Take with nothing in flight for its key is sent at once.
//
// ctx counts until the take is sent: a Take whose ctx ends while it waits in the
// queue returns ctx.Err() and spends nothing. Once sent, the call runs without
// ctx's cancellation and deadline (its values are kept), bounded by the client's
// own read and write timeouts, and the caller gets its decision even if ctx has
// ended meanwhile: units Redis admitted are never lost to a cancelled caller. An
// error of the call goes to every Take it carried.
func (s *Store) Take(ctx context.Context, key string, cost, limit int, w zohoquota.Window, _ time.Time) (zohoquota.Decision, error) {
	if err := ctx.Err(); err != nil {
		return zohoquota.Decision{}, err
	}
	if cost > MaxLimit {
		return zohoquota.Decision{}, fmt.Errorf("zohoquota: redisstore: cost %d: a Redis ledger counts at most %d units (MaxLimit): %w", cost, MaxLimit, zohoquota.ErrCostAboveLimit)
	}
	bk := batchKey{key: key, limit: limit, w: w}
	t := &take{cost: cost}
	s.mu.Lock()
	q := s.queues[bk]
	if q == nil {
		// Nothing in flight: send at once.
		if s.queues == nil {
			s.queues = make(map[batchKey]*queue)
		}
		s.queues[bk] = &queue{}
		s.mu.Unlock()
		s.send(ctx, bk, []*take{t})
		return t.d, t.err
	}
	t.ready = make(chan struct{})
	q.takes = append(q.takes, t)
	s.mu.Unlock()

	select {
	case <-t.ready:
	case <-ctx.Done():
		s.mu.Lock()
		if !t.sent {
			q.takes = slices.DeleteFunc(q.takes, func(o *take) bool { return o == t })
			s.mu.Unlock()
			return zohoquota.Decision{}, ctx.Err()
		}
		s.mu.Unlock()
		<-t.ready // in a sent batch: its units are decided
	}
	if t.lead != nil {
		s.send(ctx, bk, t.lead)
	}
	return t.d, t.err
}

// batchKey names the Takes that one script call can carry.
type batchKey struct {
	key   string
	limit int
	w     zohoquota.Window
}

// A queue holds the Takes of one batchKey waiting while a call for them is in
// flight; Store.queues has one exactly while a call is.
type queue struct{ takes []*take }

// A take is one Take's cost and, when ready is closed, either its decision (d,
// err) or a batch to send (lead, itself first). A lone Take has no ready.
type take struct {
	cost  int
	ready chan struct{}
	sent  bool // in a batch handed to a sender; guarded by Store.mu
	lead  []*take
	d     zohoquota.Decision
	err   error
}

// send sends a batch of takes in one script call, hands what queued meanwhile to
// the first of those takes (or ends the key's queue), and then delivers the
// decisions. Every take in batch is marked sent.
func (s *Store) send(ctx context.Context, bk batchKey, batch []*take) {
	ds, err := s.takes(context.WithoutCancel(ctx), bk, batch)
	if s.onBatch != nil {
		costs := make([]int, len(batch))
		for i, t := range batch {
			costs[i] = t.cost
		}
		s.onBatch(bk.key, costs, ds, err)
	}

	s.mu.Lock()
	q := s.queues[bk]
	next := q.takes
	if len(next) == 0 {
		delete(s.queues, bk)
	} else {
		q.takes = nil
		for _, t := range next {
			t.sent = true
		}
	}
	s.mu.Unlock()
	if len(next) > 0 {
		next[0].lead = next
		close(next[0].ready)
	}

	for i, t := range batch {
		if err != nil {
			t.err = err
		} else {
			t.d = ds[i]
		}
		if t.ready != nil && i > 0 {
			close(t.ready)
		}
	}
}

// takes runs the take op of the window's script for the costs of batch, and
// returns one decision for each.
func (s *Store) takes(ctx context.Context, bk batchKey, batch []*take) ([]zohoquota.Decision, error) {
	costs := make([]byte, 0, 4*len(batch))
	for i, t := range batch {
		if i > 0 {
			costs = append(costs, ',')
		}
		costs = strconv.AppendInt(costs, int64(t.cost), 10)
	}
	var r []int64
	var err error
	if bk.w.IsRolling() {
		r, err = s.rolling(ctx, "take", bk.key, string(costs), bk.limit, bk.w, 0)
	} else {
		r, err = s.day(ctx, "take", bk.key, string(costs), bk.limit, bk.w.Location())
	}
	if err != nil {
		return nil, err
	}
	if len(r) != 4*len(batch) {
		return nil, fmt.Errorf("zohoquota: redisstore: take of %d answered %v", len(batch), r)
	}
	ds := make([]zohoquota.Decision, len(batch))
	for i, t := range batch {
		r := r[4*i:]
		ds[i] = zohoquota.Decision{OK: r[0] == 1, Cost: t.cost, Used: int(r[1]), ResetAt: usTime(r[2]), At: usTime(r[3])}
	}
	return ds, nil
}

// Refund implements zohoquota.Store.
func (s *Store) Refund(ctx context.Context, key string, d zohoquota.Decision, w zohoquota.Window) error {
	if !d.OK || d.Cost <= 0 {
		return nil
	}
	if w.IsRolling() {
		_, err := s.rolling(ctx, "refund", key, d.Cost, 0, w, d.At.UnixMicro())
		return err
	}
	y, m, dd := d.At.In(w.Location()).Date()
	_, err := s.run(ctx, dayScript, []string{s.tag(key) + ":day"}, "refund", 0, d.Cost, 0, dateLabel(y, m, dd), d.At.UnixMicro())
	return err
}

// Usage implements zohoquota.Store. ResetAt is in Redis time.
func (s *Store) Usage(ctx context.Context, key string, limit int, w zohoquota.Window, _ time.Time) (zohoquota.Usage, error) {
	var r []int64
	var err error
	if w.IsRolling() {
		r, err = s.rolling(ctx, "usage", key, 0, limit, w, 0)
	} else {
		r, err = s.day(ctx, "usage", key, 0, limit, w.Location())
	}
	if err != nil {
		return zohoquota.Usage{}, err
	}
	if len(r) != 4 {
		return zohoquota.Usage{}, fmt.Errorf("zohoquota: redisstore: usage answered %v", r)
	}
	used, reset, blk, now := int(r[0]), r[1], r[2], r[3]
	u := zohoquota.Usage{Limit: limit, Used: used, Remaining: max(0, min(limit, MaxLimit)-used), ResetAt: usTime(reset)}
	if now < blk {
		u.Remaining, u.ResetAt, u.Blocked = 0, usTime(blk), true
	}
	return u, nil
}

// SetRemaining implements zohoquota.Store.
func (s *Store) SetRemaining(ctx context.Context, key string, remaining, limit int, w zohoquota.Window, _ time.Time) error {
	if limit > MaxLimit {
		// What the server counts as used, in the ledger's range.
		remaining = MaxLimit - min(max(limit-remaining, 0), MaxLimit)
	}
	var err error
	if w.IsRolling() {
		_, err = s.rolling(ctx, "setrem", key, remaining, limit, w, 0)
	} else {
		_, err = s.day(ctx, "setrem", key, remaining, limit, w.Location())
	}
	return err
}

// Block implements zohoquota.Store. The block lasts until.Sub(now) from the Redis
// clock's now, so a caller whose clock is off blocks for as long as it meant to.
func (s *Store) Block(ctx context.Context, key string, until time.Time, w zohoquota.Window, now time.Time) error {
	d := micros(until.Sub(now))
	if d <= 0 {
		return nil
	}
	var err error
	if w.IsRolling() {
		_, err = s.rolling(ctx, "block", key, int(d), 0, w, 0)
	} else {
		_, err = s.day(ctx, "block", key, int(d), 0, w.Location())
	}
	return err
}

// day runs op of day.lua, around the guessed Redis clock and then, if that missed
// by more than a day, around the clock Redis reported.
func (s *Store) day(ctx context.Context, op, key string, arg any, limit int, loc *time.Location) ([]int64, error) {
	limit = min(limit, MaxLimit)
	keys := []string{s.tag(key) + ":day"}
	guess := s.guess()
	for range 2 {
		d := s.daysAround(guess, loc)
		r, err := s.run(ctx, dayScript, keys, op, micros(s.shift), arg, limit,
			d.labels[0], d.labels[1], d.labels[2], d.starts[0], d.starts[1], d.starts[2], d.starts[3],
			s.keep.Milliseconds())
		if err != nil {
			return nil, err
		}
		if len(r) == 2 && r[0] == -1 {
			s.seen(r[1])
			guess = time.UnixMicro(r[1])
			continue
		}
		if len(r) == 4 {
			s.seen(r[3])
		}
		return r, nil
	}
	return nil, fmt.Errorf("zohoquota: redisstore: the Redis clock moved by more than a day during a call")
}

// days are three consecutive calendar days in a zone: their starts and the end of
// the last (Unix microseconds), and their dates.
type days struct {
	loc    *time.Location
	starts [4]int64
	labels [3]string
}

// daysAround returns the day before t's, t's and the next, in loc. It keeps the
// last answer: most calls fall in the same day.
func (s *Store) daysAround(t time.Time, loc *time.Location) *days {
	us := t.UnixMicro()
	if d := s.days.Load(); d != nil && d.loc == loc && d.starts[1] <= us && us < d.starts[2] {
		return d
	}
	d := &days{loc: loc}
	y, m, dd := t.In(loc).Date()
	for k := range 4 {
		d.starts[k] = zohoquota.StartOfDay(y, m, dd-1+k, loc).UnixMicro()
		if k < 3 {
			// Name the day by its calendar date, not by Format of its start.
			ly, lm, ld := time.Date(y, m, dd-1+k, 12, 0, 0, 0, time.UTC).Date()
			d.labels[k] = dateLabel(ly, lm, ld)
		}
	}
	s.days.Store(d)
	return d
}

func dateLabel(y int, m time.Month, d int) string {
	b := make([]byte, 0, 10)
	b = strconv.AppendInt(b, int64(y), 10)
	b = append(b, '-', byte('0'+m/10), byte('0'+m%10), '-', byte('0'+d/10), byte('0'+d%10))
	return string(b)
}

// MaxLimit is the largest limit the scripts count exactly: Lua numbers in Redis are
// doubles, exact up to 2^53, and a ledger adds a cost of up to the limit to what it
// holds. A larger limit (an "unlimited" quota of math.MaxInt, say) is counted as
// MaxLimit, which admits less, never more.
const MaxLimit = 1 << 52

// rolling runs op of rolling.lua.
func (s *Store) rolling(ctx context.Context, op, key string, arg any, limit int, w zohoquota.Window, at int64) ([]int64, error) {
	limit = min(limit, MaxLimit)
	tag := s.tag(key)
	r, err := s.run(ctx, rollingScript, []string{tag + ":roll", tag + ":roll:rel"}, op, micros(s.shift), arg, limit,
		micros(w.Length), micros(w.BucketSize()), s.keep.Milliseconds(), at)
	if err == nil && len(r) == 4 {
		s.seen(r[3])
	}
	return r, err
}

// AcquireSlots implements zohoquota.Store: the lease expires after the Store's
// lease TTL unless renewed. Lease.Expires is now plus the TTL, in the caller's clock.
func (s *Store) AcquireSlots(ctx context.Context, key string, n, limit int, now time.Time) (zohoquota.Lease, bool, error) {
	if n < 1 {
		return zohoquota.Lease{}, false, fmt.Errorf("zohoquota: redisstore: %d slots: need at least 1", n)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	// The ID carries the cap, so that a renewal can take a lapsed lease back if
	// there is room, and ends in the slots, which the script adds up.
	id := hex.EncodeToString(b[:]) + ":" + strconv.Itoa(limit) + ":" + strconv.Itoa(n)
	r, err := s.run(ctx, slotsScript, []string{s.tag(key) + ":slots"}, "acquire", micros(s.shift), id, n, limit, micros(s.ttl))
	if err != nil {
		return zohoquota.Lease{}, false, err
	}
	if len(r) != 3 {
		return zohoquota.Lease{}, false, fmt.Errorf("zohoquota: redisstore: acquire answered %v", r)
	}
	if r[0] != 1 {
		return zohoquota.Lease{}, false, nil
	}
	return zohoquota.Lease{ID: id, Slots: n, Expires: now.Add(s.ttl)}, true, nil
}

// RenewSlots implements zohoquota.Store: the lease runs for another TTL from now.
// A lease that has lapsed (its holder could not renew it in time, say while Redis
// was down) is taken back when its slots are free under the cap it was acquired
// with; otherwise RenewSlots returns an error wrapping ErrLeaseLost, and the call
// holding it runs beyond what Redis counts. Renew only a lease that is held: one
// renewed after ReleaseSlots is taken back too (a Permit stops renewing before it
// releases).
func (s *Store) RenewSlots(ctx context.Context, key string, l zohoquota.Lease, _ time.Time) error {
	r, err := s.run(ctx, slotsScript, []string{s.tag(key) + ":slots"}, "renew", micros(s.shift), l.ID, l.Slots, 0, micros(s.ttl))
	if err != nil {
		return err
	}
	if len(r) != 1 || r[0] != 1 {
		return fmt.Errorf("zohoquota: redisstore: renew lease of %q: %w", key, ErrLeaseLost)
	}
	return nil
}

// ReleaseSlots implements zohoquota.Store; releasing a lease twice frees it once.
func (s *Store) ReleaseSlots(ctx context.Context, key string, l zohoquota.Lease) error {
	_, err := s.run(ctx, slotsScript, []string{s.tag(key) + ":slots"}, "release", 0, l.ID)
	return err
}

// SlotsInUse implements zohoquota.Store: the slots of the leases that have not
// expired.
func (s *Store) SlotsInUse(ctx context.Context, key string, _ time.Time) (int, error) {
	r, err := s.run(ctx, slotsScript, []string{s.tag(key) + ":slots"}, "inuse", micros(s.shift))
	if err != nil {
		return 0, err
	}
	if len(r) != 1 {
		return 0, fmt.Errorf("zohoquota: redisstore: inuse answered %v", r)
	}
	return int(r[0]), nil
}
