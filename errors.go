package zohoquota

import (
	"errors"
	"fmt"
	"time"
)

// ErrQuotaExhausted is wrapped by every refusal of the quota: the local ledger's,
// a deadline that ends before the units could be admitted, and the server's own 429.
var ErrQuotaExhausted = errors.New("zohoquota: quota exhausted")

// ErrCostAboveLimit is returned at once for a cost that no window could ever admit.
var ErrCostAboveLimit = errors.New("zohoquota: cost above the quota's whole limit")

// ErrStoreUnavailable is wrapped when the Store cannot be reached and the limiter
// fails closed (the default; see WithFailOpen).
var ErrStoreUnavailable = errors.New("zohoquota: quota store unavailable")

// QuotaError is a refusal of the quota. It wraps ErrQuotaExhausted; errors.As gives
// the moment the call could succeed.
type QuotaError struct {
	Key     string    // the budget's key (the organization)
	Cost    int       // units asked for
	Used    int       // units spent in the window when refused
	Limit   int       // units the window admits
	ResetAt time.Time // earliest moment Cost units could be admitted
	// Deadline is set when the caller's context would have ended before ResetAt.
	Deadline time.Time
	// Server is true when Zoho refused the call (HTTP 429 or a v1 limit code).
	Server bool
	// Paced is true when the quota had room but pacing (WithPacing) spreads the
	// units later than the caller's deadline.
	Paced bool
	// Blocked is true when the ledger had room but an earlier refusal by Zoho
	// (Limiter.Exhaust) holds the quota spent until ResetAt.
	Blocked bool
}

func (e *QuotaError) Error() string {
	var msg string
	switch {
	case e.Server:
		msg = fmt.Sprintf("zohoquota: quota exhausted for %q (server): Zoho refused the call (%d of %d used by the local count); calls wait until %s",
			e.Key, e.Used, e.Limit, e.ResetAt.Format(time.RFC3339))
	case e.Blocked:
		msg = fmt.Sprintf("zohoquota: quota exhausted for %q (blocked): Zoho refused an earlier call (%d of %d used by the local count); calls wait until %s",
			e.Key, e.Used, e.Limit, e.ResetAt.Format(time.RFC3339))
	case e.Paced:
		msg = fmt.Sprintf("zohoquota: quota exhausted for %q (paced): %d of %d used; pacing admits %d more at %s",
			e.Key, e.Used, e.Limit, e.Cost, e.ResetAt.Format(time.RFC3339))
	default:
		msg = fmt.Sprintf("zohoquota: quota exhausted for %q (local ledger): %d of %d used; %d more can be admitted at %s",
			e.Key, e.Used, e.Limit, e.Cost, e.ResetAt.Format(time.RFC3339))
	}
	if !e.Deadline.IsZero() {
		msg += ", after the context deadline " + e.Deadline.Format(time.RFC3339)
	}
	return msg
}

// Unwrap returns ErrQuotaExhausted.
func (e *QuotaError) Unwrap() error { return ErrQuotaExhausted }

// RetryAfter returns how long after now the call could succeed.
func (e *QuotaError) RetryAfter(now time.Time) time.Duration { return max(0, e.ResetAt.Sub(now)) }
