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
