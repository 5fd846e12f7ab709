package zohoquota

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// Headers Zoho reports the remaining quota in. The credits header is the current
// one (sent once half the day's credits are used); the day header is the legacy
// per-day request count, read when present and never depended on.
const (
	HeaderCreditsRemaining = "X-API-CREDITS-REMAINING"
	HeaderDayRemaining     = "X-RATELIMIT-DAY-REMAINING"
)

// DefaultCooldown is how long the quota stays marked exhausted after the server
// refused a call when neither a Retry-After header nor the limiter's own ledger
// says when it frees up.
const DefaultCooldown = time.Minute

// MinRefusalBlock is the shortest a server refusal blocks the quota, whatever
// Retry-After or Cooldown say: a server that answers "Retry-After: 0" is not sent
// the call again at once. Each further refusal of the same call (when Transport
// retries it) doubles the block, up to MaxRetryWait.
const MinRefusalBlock = time.Second

// DefaultMaxRetryWait is the longest Transport waits before a retry when
// MaxRetryWait is 0.
const DefaultMaxRetryWait = time.Minute

// sniffLimit is the most of a response body Transport reads to find Zoho's error
// code; Zoho's error envelopes are far smaller.
const sniffLimit = 1024

// A ResponseHook sees each response Base returned, refused or not, before the
// transport acts on it. It runs on the goroutine of RoundTrip, so it must be quick;
// it may read the response's status and headers, but must not read, close or
// replace resp.Body, nor keep resp after it returns.
type ResponseHook func(resp *http.Response)

// A RefusalHook is told of each quota refusal: the local ledger's (err.Server is
// false; nothing was sent) and the server's (err.Server is true; the transport has
// already closed the response and marked the quota exhausted). It is called before
// the transport decides whether to retry, on the goroutine of RoundTrip, and must
// not modify req or err.
type RefusalHook func(req *http.Request, err *QuotaError)

// Transport is an http.RoundTripper that keeps the Zoho CRM calls it carries inside
// a Limiter's quota. For each request it:
//
//   - admits Cost(req) units of quota and Slots(req) concurrency slots through the
//     Limiter. The quota fails fast: when the ledger cannot admit the units now,
//     RoundTrip returns a *QuotaError wrapping ErrQuotaExhausted without sending
//     anything (an http.Client hands it back inside a *url.Error; use errors.As).
//     Concurrency slots are waited for, until the request's context ends, and so
//     is a SubLimiter slot for a complex call. Pacing (WithPacing) is waited for
//     too.
//   - holds the slots until the response body is read to EOF or closed, since that
//     is when Zoho stops counting the call: close every body, as net/http requires.
//   - corrects the ledger from X-API-CREDITS-REMAINING (or X-RATELIMIT-DAY-REMAINING,
//     when the credits header is absent or malformed); a malformed value is logged
//     and ignored.
//   - treats HTTP 429, a v2+ HTTP 400 body with code TOO_MANY_REQUESTS, and a v1
//     body (/crm/private/json/ paths, any status) with code 4820 or 4421 as the
//     server refusing the call: the quota is marked exhausted (Limiter.Exhaust)
//     until Retry-After (capped at the window), else the ledger's next free unit,
//     else now plus Cooldown, and never for less than MinRefusalBlock (doubled
//     for each earlier refusal of the same call); the response is closed and
//     RoundTrip returns a *QuotaError with Server true, whose ResetAt is the end of
//     that block. Zoho's 429 also means too many calls in flight, so a 429 while
//     credits remain by the server's figure and the ledger's blocks only for the
//     Cooldown, not until a rolling window's next free unit, which can be most of
//     a day away.
//
// To find the codes, Transport reads at most the first 1 KiB of a body, and only of
// a v1 response or a v2+ JSON 400 response; what it read is put back in front of the
// rest of the body, so the caller reads the body unchanged.
//
// Units spent stay spent, except when the request never left: an error from Base
// that is a *net.OpError with Op "dial" (no connection, DNS failure) refunds them.
// Every other error from Base is ambiguous (the request may have reached Zoho) and
// keeps them spent, which can only under-use the quota, never overrun it. So does a
// Base that returns neither a response nor an error (RoundTrip then returns an
// error saying so) and a panic in Base or a hook, which RoundTrip lets through
// after releasing the call's slots.
//
// A refused call is retried at most MaxRetries times, and only when the wait for
// the quota to free up is at most MaxRetryWait and ends before the request's
// context deadline; otherwise the *QuotaError is returned at once. A call the
// server refused is sent again only when its body can be replayed (no body, or
// req.GetBody set); a request body that cannot be replayed is never read twice.
//
// Transport starts no goroutines (the Limiter renews a shared store's slot leases
// while a call is held). Its fields must not change once it is in use; it is then
// safe for use by multiple goroutines.
type Transport struct {
	// Base sends the requests. nil means http.DefaultTransport.
	Base http.RoundTripper
	// Limiter admits the requests. It is required.
	Limiter *Limiter
	// Cost returns the quota units a request spends: V1Cost for the v1 API,
	// CreditCost or a loaded CostTable's Cost for v2+. nil means 1 per request.
	Cost func(*http.Request) int
	// Slots returns the concurrency slots a request takes (see CompositeSlots).
	// nil means 1 per request.
	Slots func(*http.Request) int
	// SubLimiter, if set, holds the sub-concurrency slots of "complex" calls:
	// Zoho lets each user of an OAuth client have 10 of them in flight on every
	// edition, on top of the edition's cap. Give it a Limiter whose
	// Quota.Concurrency is that cap, sharing Limiter's store, with its own slot
	// key (WithSlotKey); its quota units are never spent.
	SubLimiter *Limiter
	// Complex reports whether a request is a complex call, which needs a
	// SubLimiter slot. nil means ComplexCall.
	Complex func(*http.Request) bool

	// Throttles pace the requests they match before each is admitted, waiting
	// until ctx ends (a deadline that ends first is a *QuotaError at once).
	// nil means none; DefaultThrottles returns Zoho's fixed ones.
	Throttles []Throttle

	// MaxRetries is how many times a refused request is tried again. 0, the
	// default, returns every refusal to the caller.
	MaxRetries int
	// MaxRetryWait caps the wait before a retry, Retry-After included. A refusal
	// that would need a longer wait is returned, not retried. 0 means
	// DefaultMaxRetryWait.
	MaxRetryWait time.Duration
	// Cooldown is how long a server refusal blocks the quota when nothing says
	// when it frees up. 0 means DefaultCooldown. A Cooldown below
	// MinRefusalBlock blocks for MinRefusalBlock.
	Cooldown time.Duration

	// Logger receives malformed headers, server refusals and retries. nil
	// discards them.
	Logger *slog.Logger
	// OnResponse, if set, is called with every response Base returns.
	OnResponse ResponseHook
	// OnRefusal, if set, is called with every quota refusal.
	OnRefusal RefusalHook
}

var _ http.RoundTripper = (*Transport)(nil)

var discardLogger = slog.New(slog.DiscardHandler)

func (t *Transport) base() http.RoundTripper {
	if t.Base == nil {
		return http.DefaultTransport
	}
	return t.Base
}

func (t *Transport) logger() *slog.Logger {
	if t.Logger == nil {
		return discardLogger
	}
	return t.Logger
}

func (t *Transport) complex(req *http.Request) bool {
	if t.Complex == nil {
		return ComplexCall(req)
	}
	return t.Complex(req)
}

func (t *Transport) cooldown() time.Duration {
	if t.Cooldown <= 0 {
		return DefaultCooldown
	}
	return t.Cooldown
}

func (t *Transport) maxRetryWait() time.Duration {
	if t.MaxRetryWait <= 0 {
		return DefaultMaxRetryWait
	}
	return t.MaxRetryWait
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.Limiter == nil {
		closeRequestBody(req)
		return nil, errors.New("zohoquota: Transport.Limiter is nil: need a limiter")
	}
	if req == nil || req.URL == nil {
		closeRequestBody(req)
		return nil, errors.New("zohoquota: request has no URL: need a request with a URL, as http.Transport does")
	}
	cost := 1
	if t.Cost != nil {
		cost = t.Cost(req)
	}
	slots := 1
	if t.Slots != nil {
		slots = t.Slots(req)
	}
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	ctx := req.Context()

	r := req
	serverRefusals := 0
	for attempt := 0; ; attempt++ {
		resp, handed, err := t.try(r, cost, slots, t.minBlock(serverRefusals))
		if err == nil {
			return resp, nil
		}
		var qe *QuotaError
		if !errors.As(err, &qe) {
			if !handed {
				closeRequestBody(r)
			}
			return resp, err
		}
		if qe.Server {
			serverRefusals++
		}
		if t.OnRefusal != nil {
			t.OnRefusal(req, qe)
		}
		if why := t.noRetry(ctx, qe, attempt, replayable); why != "" {
			if !handed {
				closeRequestBody(r)
			}
			if attempt < t.MaxRetries {
				t.logger().Info("zohoquota: not retrying refused call", "method", req.Method, "url", logURL(req),
					"reason", why, "reset_at", qe.ResetAt)
			}
			return nil, err
		}
		wait := qe.RetryAfter(time.Now())
		t.logger().Info("zohoquota: retrying refused call", "method", req.Method, "url", logURL(req),
			"attempt", attempt+1, "wait", wait, "server", qe.Server)
		if err := sleep(ctx, wait); err != nil {
			if !handed {
				closeRequestBody(r)
			}
			return nil, err
		}
		if handed {
			if r, err = rewind(req); err != nil {
				return nil, err
			}
		}
	}
}

// noRetry returns why the refusal qe must go back to the caller, or "" to retry.
// It sets qe.Deadline when the context's deadline is the reason.
func (t *Transport) noRetry(ctx context.Context, qe *QuotaError, attempt int, replayable bool) string {
	if attempt >= t.MaxRetries {
		return "no retries left"
	}
	if qe.Server && !replayable {
		return "request body cannot be replayed (no GetBody)"
	}
	if qe.RetryAfter(time.Now()) > t.maxRetryWait() {
		return "wait longer than MaxRetryWait"
	}
	if deadline, ok := ctx.Deadline(); ok && deadline.Before(qe.ResetAt) {
		qe.Deadline = deadline
		return "wait ends after the context deadline"
	}
	return ""
}

// minBlock is the shortest a server refusal blocks the quota after the call was
// refused by the server n times already: MinRefusalBlock, doubled n times, capped
// at MaxRetryWait so that the backoff alone never stops the retries.
func (t *Transport) minBlock(n int) time.Duration {
	return min(MinRefusalBlock<<min(n, 20), max(t.maxRetryWait(), MinRefusalBlock))
}

// try sends req once under a permit. handed reports whether req went to Base,
// which then owns (and closes) its body. A server refusal blocks the quota for
// minBlock at least.
func (t *Transport) try(req *http.Request, cost, slots int, minBlock time.Duration) (resp *http.Response, handed bool, err error) {
	l := t.Limiter
	ctx := req.Context()
	var p permits
	if t.SubLimiter != nil && t.complex(req) {
		// The sub-concurrency slot first: a call that holds a main slot then never
		// waits for a sub slot, so waiters cannot block each other in a cycle.
		if p.sub, err = t.SubLimiter.acquirePermit(ctx, 0, 1, false); err != nil {
			return nil, false, err
		}
	}
	if p.main, err = l.acquirePermit(ctx, cost, slots, false); err != nil {
		p.release()
		return nil, false, err
	}
	// Until a body holds them, the permits are released on every way out, a
	// panic in Base, a hook or a body's Read included: a slot leaked here would
	// be lost to every later call. Releasing is idempotent, so the paths below
	// that release or refund early are unaffected.
	held := false
	defer func() {
		if !held {
			p.release()
		}
	}()
	// Throttles come last, right before the send: a token taken earlier could be
	// spent while the call waits for a slot, and calls queued together would then
	// go out together. A call refused by its throttle never left: its units return.
	if err := t.throttle(ctx, req); err != nil {
		p.refund()
		return nil, false, fmt.Errorf("zohoquota: throttle: %w", err)
	}
	resp, err = t.base().RoundTrip(req)
	if err != nil {
		if resp != nil && resp.Body != nil {
			_ = resp.Body.Close() // net/http ignores such a response too
		}
		if neverSent(err) {
			p.refund()
		}
		return nil, true, err
	}
	if resp == nil {
		// Ambiguous like any other failure of Base: the call may have reached
		// Zoho, so its units stay spent.
		return nil, true, fmt.Errorf("zohoquota: Transport.Base (%T) returned a nil *http.Response with a nil error", t.base())
	}
	if t.OnResponse != nil {
		t.OnResponse(resp)
	}
	rem := t.syncRemaining(req, resp)
	if resp.StatusCode == http.StatusSwitchingProtocols || resp.Body == nil || resp.Body == http.NoBody {
		// Nothing left to read: the call is over (a protocol switch is no Zoho call).
		p.release()
		if refusedStatus(resp) {
			return nil, true, t.refused(req, resp, cost, rem, minBlock)
		}
		return resp, true, nil
	}
	prefix, refused := sniffRefusal(req, resp)
	if refused {
		p.release()
		return nil, true, t.refused(req, resp, cost, rem, minBlock)
	}
	resp.Body = &heldBody{rc: resp.Body, prefix: prefix, p: p}
	held = true
	return resp, true, nil
}

// neverSent reports whether err from Base means the request cannot have reached
// the server: the connection was never made.
func neverSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// syncRemaining applies the server's remaining figure to the ledger.
func (t *Transport) syncRemaining(req *http.Request, resp *http.Response) remainingFigure {
	n, found, err := ParseRemaining(resp.Header)
	if err != nil {
		t.logger().Warn("zohoquota: ignoring malformed quota header", "url", logURL(req), "err", err)
	}
	if found {
		if err := t.Limiter.SetRemaining(req.Context(), n); err != nil {
			t.logger().Warn("zohoquota: could not apply the server's remaining figure", "remaining", n, "err", err)
		}
	}
	return remainingFigure{n: n, found: found}
}

// refused handles a response in which the server refused the call for quota: it
// marks the quota exhausted, closes the response, and returns the error for the
// caller.
func (t *Transport) refused(req *http.Request, resp *http.Response, cost int, rem remainingFigure, minBlock time.Duration) *QuotaError {
	l := t.Limiter
	now := time.Now()
	until := t.blockUntil(req, resp, now, cost, rem)
	if floor := now.Add(minBlock); until.Before(floor) {
		until = floor
	}
	if resp.Body != nil {
		// Drain a little so the connection can be reused; a refusal body is small.
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		_ = resp.Body.Close()
	}
	if err := l.Exhaust(req.Context(), until); err != nil {
		t.logger().Warn("zohoquota: could not mark the quota exhausted", "key", l.Key(), "err", err)
	}
	u := l.Usage()
	t.logger().Warn("zohoquota: server refused call: quota exhausted", "key", l.Key(), "status", resp.StatusCode,
		"url", logURL(req), "until", until)
	return &QuotaError{Key: l.Key(), Cost: cost, Used: u.Used, Limit: u.Limit, ResetAt: until, Server: true}
}

// blockUntil decides how long a server refusal blocks the quota: the server's
// Retry-After when it sent one; else, when the credits are gone by the server's
// figure or the ledger's (or the refusal is v1's, whose day resets at midnight),
// until the ledger's next unit frees up; else for the Cooldown. Zoho's 429 also
// means "too many calls in flight", and a rolling window's next free unit can be
// most of a day away, so a 429 while credits remain must not block for that long.
func (t *Transport) blockUntil(req *http.Request, resp *http.Response, now time.Time, cost int, rem remainingFigure) time.Time {
	if v := resp.Header.Get("Retry-After"); v != "" {
		d, err := ParseRetryAfter(v, now)
		if err == nil {
			return now.Add(min(d, maxBlock(t.Limiter.Quota().Window)))
		}
		t.logger().Warn("zohoquota: ignoring malformed header", "url", logURL(req), "err", err)
	}
	if rem.found && rem.n > 0 {
		return now.Add(t.cooldown())
	}
	return refusalBlock(t.Limiter, now, cost, rem.found || isV1Path(req), t.cooldown())
}

// refusalBlock is until when a server refusal that named no moment blocks l: until
// the ledger frees up when the quota is really gone (spent: the server said so; or
// the ledger has no room for cost either; or the window is a calendar day), and
// otherwise for cooldown, since a 429 may be about calls in flight rather than
// credits, and a rolling ledger's next release can be a day away.
func refusalBlock(l *Limiter, now time.Time, cost int, spent bool, cooldown time.Duration) time.Time {
	u := l.Usage()
	spent = spent || u.Remaining < cost || !l.Quota().Window.IsRolling()
	if spent && u.ResetAt.After(now) {
		return u.ResetAt
	}
	return now.Add(cooldown)
}

// remainingFigure is what a response said about the remaining quota.
type remainingFigure struct {
	n     int
	found bool
}

// maxBlock is the longest a server's Retry-After may block the quota: no unit can
// take longer than the window to free up (25 hours for a calendar day, which is
// that long once a year in a zone with daylight saving).
func maxBlock(w Window) time.Duration {
	if w.IsRolling() {
		return w.Length
	}
	return 25 * time.Hour
}

// throttle waits for every throttle that matches req.
func (t *Transport) throttle(ctx context.Context, req *http.Request) error {
	for _, th := range t.Throttles {
		if th.Match != nil && th.Limiter != nil && th.Match(req) {
			if err := th.wait(ctx, t.Limiter.Key()); err != nil {
				return err
			}
		}
	}
	return nil
}

// CloseIdleConnections closes the idle connections of Base, if it has any.
func (t *Transport) CloseIdleConnections() {
	type closeIdler interface{ CloseIdleConnections() }
	if c, ok := t.base().(closeIdler); ok {
		c.CloseIdleConnections()
	}
}

// rewind returns req with a fresh body from GetBody, for a retry.
func rewind(req *http.Request) (*http.Request, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, nil
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, fmt.Errorf("zohoquota: replay the request body for a retry: %w", err)
	}
	r := *req
	r.Body = body
	return &r, nil
}

func closeRequestBody(req *http.Request) {
	if req != nil && req.Body != nil {
		_ = req.Body.Close()
	}
}

// permits are what one call holds: its quota and slots, and for a complex call a
// sub-concurrency slot.
type permits struct{ main, sub *Permit }

func (p permits) release() {
	if p.main != nil {
		p.main.Release()
	}
	if p.sub != nil {
		p.sub.Release()
	}
}

func (p permits) refund() {
	if p.main != nil {
		p.main.Refund()
	}
	if p.sub != nil {
		p.sub.Release()
	}
}

// heldBody holds a call's permits until the body is read to EOF or closed, and
// first returns the prefix the transport read while looking for an error code.
type heldBody struct {
	rc     io.ReadCloser
	prefix []byte
	p      permits
}

func (b *heldBody) Read(p []byte) (int, error) {
	if len(b.prefix) > 0 {
		n := copy(p, b.prefix)
		b.prefix = b.prefix[n:]
		return n, nil
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.p.release()
	}
	return n, err
}

func (b *heldBody) Close() error {
	err := b.rc.Close()
	b.p.release()
	return err
}

// refusedStatus reports a refusal the status alone shows.
func refusedStatus(resp *http.Response) bool { return resp.StatusCode == http.StatusTooManyRequests }

// sniffRefusal reports whether resp is the server refusing the call for quota. When
// it reads the start of the body to find out, it returns what it read, which the
// caller must serve before the rest of resp.Body.
func sniffRefusal(req *http.Request, resp *http.Response) (prefix []byte, refused bool) {
	if refusedStatus(resp) {
		return nil, true
	}
	var path []string
	switch {
	case isV1Path(req):
		path = []string{"response", "error", "code"}
	case resp.StatusCode == http.StatusBadRequest && isJSON(resp.Header):
		path = []string{"code"}
	default:
		return nil, false
	}
	buf := make([]byte, sniffLimit)
	n, err := io.ReadFull(resp.Body, buf)
	buf = buf[:n]
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		// The rest of the body will report the error to the caller.
		return buf, false
	}
	code, ok := jsonScalarAt(buf, path...)
	if !ok {
		return buf, false
	}
	if path[0] == "code" {
		return buf, code == "TOO_MANY_REQUESTS"
	}
	return buf, code == "4820" || code == "4421"
}

func isV1Path(req *http.Request) bool { return strings.Contains(urlPath(req), "/crm/private/json/") }

// logURL is the part of req's URL fit for a log: v1 calls carry the authtoken in
// the query, so the query is left out.
func logURL(req *http.Request) string { return req.URL.Host + req.URL.Path }

func isJSON(h http.Header) bool {
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// remainingKeys are the quota headers in canonical form, so that looking them up
// allocates nothing.
var remainingKeys = [...]string{
	textproto.CanonicalMIMEHeaderKey(HeaderCreditsRemaining),
	textproto.CanonicalMIMEHeaderKey(HeaderDayRemaining),
}

// ParseRemaining reads the remaining quota the server reported in h:
// X-API-CREDITS-REMAINING, or else the legacy X-RATELIMIT-DAY-REMAINING, which is
// read only when the credits header is absent or malformed. found is false when
// neither holds a figure. A value that is not a whole number of 0 or more is an
// error naming the header and the value; err and found are independent, so a
// malformed credits header beside a valid legacy one returns the legacy figure,
// found true, and the credits header's error.
func ParseRemaining(h http.Header) (remaining int, found bool, err error) {
	var errs []error
	for i, key := range remainingKeys {
		vs := h[key]
		if len(vs) == 0 || vs[0] == "" {
			continue
		}
		v, name := vs[0], [...]string{HeaderCreditsRemaining, HeaderDayRemaining}[i]
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("zohoquota: header %s: %q: need a whole number 0 or more", name, v))
			continue
		}
		return n, true, errors.Join(errs...)
	}
	return 0, false, errors.Join(errs...)
}

// ParseRetryAfter reads a Retry-After header value, delay-seconds or an HTTP date,
// as the wait after now. A date in the past is a wait of 0. Delay-seconds is any
// run of digits, however long: a wait too long for a time.Duration saturates to the
// longest one (callers cap it). Anything else (a sign, a fraction, a bad date) is
// an error.
func ParseRetryAfter(v string, now time.Time) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if v != "" && strings.Trim(v, "0123456789") == "" {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs > int64(maxDuration/time.Second) {
			// Only a value out of int64's range fails, and it is all digits: huge.
			return maxDuration, nil
		}
		return time.Duration(secs) * time.Second, nil
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, fmt.Errorf("zohoquota: Retry-After %q: need seconds 0 or more, or an HTTP date", v)
	}
	return max(0, t.Sub(now)), nil
}

const maxDuration = time.Duration(1<<63 - 1)

// CompositeSlots returns the concurrency slots Zoho counts for a request: 5 for a
// Composite API call (…/__composite_requests), 1 for any other. Use it as
// Transport.Slots.
func CompositeSlots(req *http.Request) int {
	if strings.HasSuffix(strings.TrimSuffix(urlPath(req), "/"), "/__composite_requests") {
		return 5
	}
	return 1
}

// jsonScalarAt returns, as a string, the scalar at path in the JSON object that
// data starts with (data may be cut short after it). ok is false when data is not
// such an object, the path is absent, or the value is not a string or number.
func jsonScalarAt(data []byte, path ...string) (string, bool) {
	dec := newDecoder(bytes.NewReader(data))
	tok, ok := lookupJSON(dec, path)
	if !ok {
		return "", false
	}
	switch v := tok.(type) {
	case string:
		return v, true
	case jsonNumber:
		return string(v), true
	}
	return "", false
}
