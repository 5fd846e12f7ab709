package zohoquota_test

import (
	"context"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zohoquota/zohoquota"
)

// TestTransportBaseNilResponse: a Base that returns neither a response nor an
// error gets an error back, not a panic; the call is ambiguous, so its units stay
// spent, and its slot is freed.
func TestTransportBaseNilResponse(t *testing.T) {
	lim := creditLimiter(t, 1000, 1)
	base := roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, nil })
	tr := &zohoquota.Transport{Base: base, Limiter: lim, Cost: func(*http.Request) int { return 5 }}
	req, err := http.NewRequest(http.MethodGet, leadsURL, nil)
	require.NoError(t, err)
	resp, err := tr.RoundTrip(req)
	assert.Nil(t, resp)
	require.ErrorContains(t, err, "returned a nil *http.Response with a nil error")
	assert.NotErrorIs(t, err, zohoquota.ErrQuotaExhausted)
	u := lim.Usage()
	assert.Equal(t, 5, u.Used, "units of an ambiguous call refunded")
	assert.Equal(t, 0, u.InFlight, "slot still held")
}

// TestTransportPanicReleasesSlots: a panic in Base or in a hook goes through to the
// caller, but only after the call's slots, the sub-concurrency one included, are
// freed; the next call then goes out at once.
func TestTransportPanicReleasesSlots(t *testing.T) {
	tests := []struct {
		name string
		tr   func(tr *zohoquota.Transport)
	}{
		{"Base", func(tr *zohoquota.Transport) {
			tr.Base = roundTripFunc(func(*http.Request) (*http.Response, error) { panic("boom") })
		}},
		{"OnResponse", func(tr *zohoquota.Transport) {
			tr.OnResponse = func(*http.Response) { panic("boom") }
		}},
		{"body read while sniffing", func(tr *zohoquota.Transport) {
			tr.Base = roundTripFunc(func(req *http.Request) (*http.Response, error) {
				r := reply(req, http.StatusBadRequest, "", "Content-Type", "application/json")
				r.Body = panicBody{}
				return r, nil
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { runPanicCase(t, tt.tr) })
		})
	}
}

// runPanicCase runs one case of TestTransportPanicReleasesSlots in a bubble, so
// that a leaked slot shows as the next call timing out, without waiting.
func runPanicCase(t *testing.T, set func(tr *zohoquota.Transport)) {
	t.Helper()
	lim := creditLimiter(t, 1000, 1)
	sub := creditLimiter(t, 1, 1)
	tr := &zohoquota.Transport{Base: &fakeZoho{handle: ok}, Limiter: lim, SubLimiter: sub,
		Complex: func(*http.Request) bool { return true }}
	set(tr)
	req, err := http.NewRequest(http.MethodGet, leadsURL, nil)
	require.NoError(t, err)
	assert.PanicsWithValue(t, "boom", func() { _, _ = tr.RoundTrip(req) })
	assert.Equal(t, 0, lim.Usage().InFlight, "slot leaked by the panic")
	assert.Equal(t, 0, sub.Usage().InFlight, "sub slot leaked by the panic")
	assert.Equal(t, 1, lim.Usage().Used, "units of an ambiguous call refunded")

	next := &zohoquota.Transport{Base: &fakeZoho{handle: ok}, Limiter: lim, SubLimiter: sub,
		Complex: tr.Complex}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	resp, err := next.RoundTrip(req.WithContext(ctx))
	require.NoError(t, err, "the next call did not get the slot")
	drainClose(t, resp)
}

type panicBody struct{}

func (panicBody) Read([]byte) (int, error) { panic("boom") }
func (panicBody) Close() error             { return nil }

// TestTransportRetryAfterZero: a server that keeps answering "Retry-After: 0" is
// not hammered: each refusal blocks the quota for MinRefusalBlock, doubled for each
// further refusal of the same call, and the retries wait for the block to end.
func TestTransportRetryAfterZero(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		lim := creditLimiter(t, 1000, 5)
		var sends []time.Duration
		zoho := &fakeZoho{handle: func(req *http.Request, _ []byte) *http.Response {
			sends = append(sends, time.Since(start))
			return reply(req, http.StatusTooManyRequests, "", "Retry-After", "0")
		}}
		var refusals []*zohoquota.QuotaError
		tr := &zohoquota.Transport{Base: zoho, Limiter: lim, MaxRetries: 5,
			OnRefusal: func(_ *http.Request, qe *zohoquota.QuotaError) {
				u := lim.Usage()
				assert.True(t, qe.ResetAt.Equal(u.ResetAt), "QuotaError.ResetAt %v, Usage().ResetAt %v", qe.ResetAt, u.ResetAt)
				refusals = append(refusals, qe)
			}}
		req, err := http.NewRequest(http.MethodGet, leadsURL, nil)
		require.NoError(t, err)
		_, err = tr.RoundTrip(req)
		var qe *zohoquota.QuotaError
		require.ErrorAs(t, err, &qe)
		assert.True(t, qe.Server)

		s := time.Second
		assert.Equal(t, []time.Duration{0, s, 3 * s, 7 * s, 15 * s, 31 * s}, sends)
		require.Len(t, refusals, 6)
		assert.Equal(t, start.Add(63*s), qe.ResetAt, "the last refusal blocks for 32s")
		assert.False(t, lim.Allow(), "the limiter admits calls during the block")
		time.Sleep(time.Until(qe.ResetAt))
		assert.True(t, lim.Allow(), "the limiter still blocked after the block's end")
	})
}

// TestTransportMinRefusalBlock: neither a Retry-After in the past nor a Cooldown
// shorter than MinRefusalBlock blocks for less; the caller's error and the
// limiter agree on when the quota frees up.
func TestTransportMinRefusalBlock(t *testing.T) {
	tests := []struct {
		name     string
		cooldown time.Duration
		hdr      []string
	}{
		{"retry-after 0", 0, []string{"Retry-After", "0"}},
		{"retry-after date in the past", 0, []string{"Retry-After", "Fri, 31 Dec 1999 23:00:00 GMT"}},
		{"cooldown below the floor", time.Millisecond, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				lim := creditLimiter(t, 1000, 5)
				zoho := &fakeZoho{handle: func(req *http.Request, _ []byte) *http.Response {
					return reply(req, http.StatusTooManyRequests, "", tt.hdr...)
				}}
				tr := &zohoquota.Transport{Base: zoho, Limiter: lim, Cooldown: tt.cooldown}
				req, err := http.NewRequest(http.MethodGet, leadsURL, nil)
				require.NoError(t, err)
				_, err = tr.RoundTrip(req)
				var qe *zohoquota.QuotaError
				require.ErrorAs(t, err, &qe)
				assert.ErrorContains(t, err, "(server)")
				assert.Equal(t, start.Add(zohoquota.MinRefusalBlock), qe.ResetAt)

				u := lim.Usage()
				assert.True(t, qe.ResetAt.Equal(u.ResetAt), "QuotaError.ResetAt %v, Usage().ResetAt %v", qe.ResetAt, u.ResetAt)
				assert.Equal(t, u.Used, qe.Used)
				assert.Equal(t, u.Limit, qe.Limit)
				assert.False(t, lim.Allow())
				time.Sleep(zohoquota.MinRefusalBlock)
				assert.True(t, lim.Allow())
			})
		})
	}
}

// TestTransportNilURL: a request without a URL is an error, as with http.Transport,
// and spends nothing; the cost functions count it as a default call, never panic.
func TestTransportNilURL(t *testing.T) {
	lim := creditLimiter(t, 1000, 1)
	tr := &zohoquota.Transport{Base: roundTripFunc(func(*http.Request) (*http.Response, error) {
		t.Error("a request without a URL reached Base")
		return nil, nil
	}), Limiter: lim, Cost: zohoquota.CreditCost, Slots: zohoquota.CompositeSlots, Throttles: zohoquota.DefaultThrottles()}
	for _, req := range []*http.Request{nil, {Method: http.MethodPost}} {
		resp, err := tr.RoundTrip(req)
		assert.Nil(t, resp)
		require.ErrorContains(t, err, "request has no URL")
	}
	assert.Equal(t, 0, lim.Usage().Used)

	req := &http.Request{Method: http.MethodPost}
	assert.Equal(t, 1, zohoquota.CreditCost(req))
	assert.False(t, zohoquota.ComplexCall(req))
	assert.Equal(t, 1, zohoquota.CompositeSlots(req))
	assert.Equal(t, 1, zohoquota.V1Cost(req))
}
