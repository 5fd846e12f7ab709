package redisstore

import (
	"time"

	"github.com/zohoquota/zohoquota"
)

// WithTimeShift adds d to the Redis clock the scripts read, so that tests can put
// the ledger just before a midnight (or a DST change) without waiting for one.
// Tests only: every process sharing a budget must use the same shift.
func WithTimeShift(d time.Duration) Option {
	return func(s *Store) { s.shift = d }
}

// WithBatchHook makes the store call f after every take call, with the key, the
// costs in the order sent and the answer. Calls for one key are made in order.
func WithBatchHook(f func(key string, costs []int, ds []zohoquota.Decision, err error)) Option {
	return func(s *Store) { s.onBatch = f }
}

// QueuedTakes returns how many Takes of s wait behind a call in flight.
func QueuedTakes(s *Store) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, q := range s.queues {
		n += len(q.takes)
	}
	return n
}
