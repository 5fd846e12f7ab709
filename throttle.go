package zohoquota

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// A Throttle paces the requests it matches with a token bucket. Zoho keeps a few
// fixed throttles beside the quota (see DefaultThrottles); a Transport waits for
// each matching throttle before it admits a request.
type Throttle struct {
	Name    string                   // for errors and logs: "bulk read download"
	Match   func(*http.Request) bool // the requests it paces
	Limiter *rate.Limiter
}

// PerWindow returns a bucket that lets at most n requests through in any window of
// length w: one token every w/n and a burst of 1. A larger burst would let up to
// burst+n-1 through in the first window, over a server's sliding count.
func PerWindow(n int, w time.Duration) *rate.Limiter {
	return rate.NewLimiter(rate.Every(w/time.Duration(max(n, 1))), 1)
}

var (
	bulkResultPath = regexp.MustCompile(`^/crm/bulk/v\d+/read/[^/]+/result$`)
	oauthTokenPath = regexp.MustCompile(`/oauth/v2/token$`)
)

// DefaultThrottles returns new buckets for Zoho's fixed throttles
// (docs/zoho-limits.md §1, §2):
//
//   - "bulk read download": GET /crm/bulk/v{N}/read/{id}/result, 10 a minute;
//   - "oauth token": POST .../oauth/v2/token, 10 access tokens per 10 minutes per
//     refresh token (over it Zoho answers 400 "Access Denied");
//   - "v1 uploadFile": /crm/private/json/{Module}/uploadFile, 60 a minute (over it
//     v1 blocks API access for 5 minutes).
//
// Each call returns fresh buckets: share one set per organization and refresh token.
func DefaultThrottles() []Throttle {
	return []Throttle{
		{
			Name: "bulk read download",
			Match: func(r *http.Request) bool {
				return r.Method == http.MethodGet && bulkResultPath.MatchString(urlPath(r))
			},
			Limiter: PerWindow(10, time.Minute),
		},
		{
			Name: "oauth token",
			Match: func(r *http.Request) bool {
				return r.Method == http.MethodPost && oauthTokenPath.MatchString(urlPath(r))
			},
			Limiter: PerWindow(10, 10*time.Minute),
		},
		{
			Name: "v1 uploadFile",
			Match: func(r *http.Request) bool {
				return isV1Path(r) && strings.HasSuffix(urlPath(r), "/uploadFile")
			},
			Limiter: PerWindow(60, time.Minute),
		},
	}
}

// wait blocks until the throttle lets req through. When ctx's deadline ends first
// it returns a *QuotaError (Paced) at once and takes no token.
func (th Throttle) wait(ctx context.Context, key string) error {
	now := time.Now()
	r := th.Limiter.ReserveN(now, 1)
	if !r.OK() {
		return &QuotaError{Key: key + " " + th.Name, Cost: 1, Paced: true}
	}
	delay := r.DelayFrom(now)
	if delay == 0 {
		return nil
	}
	if deadline, ok := ctx.Deadline(); ok && deadline.Before(now.Add(delay)) {
		r.CancelAt(now)
		return &QuotaError{Key: key + " " + th.Name, Cost: 1, Paced: true, ResetAt: now.Add(delay), Deadline: deadline}
	}
	if err := sleep(ctx, delay); err != nil {
		r.Cancel()
		return err
	}
	return nil
}
