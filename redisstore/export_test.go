package redisstore

import "time"

// WithTimeShift adds d to the Redis clock the scripts read, so that tests can put
// the ledger just before a midnight (or a DST change) without waiting for one.
// Tests only: every process sharing a budget must use the same shift.
func WithTimeShift(d time.Duration) Option {
	return func(s *Store) { s.shift = d }
}
