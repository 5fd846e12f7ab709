package zohoquota_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zohoquota/zohoquota"
)

// TestRollingReleaseOnBucketBoundary: a unit spent on the first instant of a
// minute frees up with the rest of that minute's spending, one window after the
// minute ends. Zoho-like servers keep per-minute buckets freed a window after their
// last charge; freeing the boundary instant's units at exactly t+window would be
// early against them (internal/crmsim answers 429 to the call that relies on it).
func TestRollingReleaseOnBucketBoundary(t *testing.T) {
	for _, offset := range []time.Duration{0, time.Nanosecond, 30 * time.Second, time.Minute - time.Nanosecond} {
		t.Run(offset.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				minute := time.Now().Truncate(time.Minute).Add(time.Hour)
				time.Sleep(time.Until(minute.Add(offset)))
				l, err := zohoquota.NewLimiter(zohoquota.Quota{Limit: 1, Window: zohoquota.Rolling(time.Hour)})
				require.NoError(t, err)
				require.True(t, l.Allow())
				require.NoError(t, l.Wait(t.Context()))
				assert.Equal(t, minute.Add(time.Hour+time.Minute), time.Now(), "spent at minute+%v", offset)
			})
		})
	}
}
