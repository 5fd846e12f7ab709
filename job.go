package zohoquota

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrNotWritten is wrapped by a SendFunc's error when the request certainly did not
// reach Zoho, or Zoho refused it whole: nothing was written, so the batch may be sent
// again, even a plain insert.
var ErrNotWritten = errors.New("zohoquota: request not written")

// ErrRejected is wrapped by a SendFunc's error when Zoho refused the whole request
// for a reason that sending it again will not change (a bad token, an unknown
// module, too many records). It wraps ErrNotWritten; a Job stops at once.
var ErrRejected = fmt.Errorf("zohoquota: request rejected: %w", ErrNotWritten)

// ErrCheckpoint is wrapped by errors about a checkpoint file that cannot be used:
// unreadable, or written by another job.
var ErrCheckpoint = errors.New("zohoquota: checkpoint unusable")

// ErrJobIncomplete is wrapped by Job.Run's error when records are still pending
// after a stop the job itself decided (too many failed sends in a row).
var ErrJobIncomplete = errors.New("zohoquota: job incomplete")

// Result is Zoho's answer for one record of a request: for a write,
// {"code":"SUCCESS","details":{"id":"..."},"message":"record added","status":"success"}
// or an error such as MANDATORY_NOT_FOUND.
type Result struct {
	Code    string         `json:"code"`
	Status  string         `json:"status,omitempty"`
	Message string         `json:"message,omitempty"`
	ID      string         `json:"id,omitempty"` // details.id: the record's Zoho id
	Details map[string]any `json:"details,omitempty"`
}

// OK reports whether Zoho accepted the record.
func (r Result) OK() bool {
	if r.Status != "" {
		return strings.EqualFold(r.Status, "success")
	}
	return r.Code == "SUCCESS"
}

// A SendFunc sends one batch and returns Zoho's result for each record, in the
// batch's order. Its error says what became of the request: one wrapping
// ErrQuotaExhausted or ErrNotWritten means nothing was written; any other error is
// ambiguous (the request may have been written and processed). A nil error with a
// result count other than the batch's is treated as ambiguous too.
type SendFunc[R any] func(ctx context.Context, batch []R) ([]Result, error)

// RecordState is where one record of a job stands.
type RecordState int

// The states of a record. Pending records have not been sent (or were sent and
// certainly not written) and are sent when the job runs again; the others are final.
const (
	Pending   RecordState = iota
	Confirmed             // Zoho accepted it; Result.ID is its id
	Failed                // Zoho refused it; Result.Code says why
	Unknown               // it may have been written: check before resending
)

var stateNames = [...]string{Pending: "pending", Confirmed: "confirmed", Failed: "failed", Unknown: "unknown"}

func (s RecordState) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return "RecordState(" + strconv.Itoa(int(s)) + ")"
	}
	return stateNames[s]
}

// MarshalText encodes the state as its name.
func (s RecordState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// CodeUnknown is the Result.Code of an Unknown record: the job lost track of its
// request (a timeout after the request was written, a crash mid-batch).
const CodeUnknown = "ZOHOQUOTA_UNKNOWN"

// Outcome is one record's state and Zoho's answer.
type Outcome struct {
	State  RecordState `json:"state"`
	Result Result      `json:"result"`
}

// Progress is a job's position, passed to Job.Progress after each batch and while
// the job waits for quota.
type Progress struct {
	Done, Total                int // records in a final state, records in the job
	Confirmed, Failed, Unknown int
	Requests, Units            int // spent by this run
	Elapsed                    time.Duration
	// ETA is the time left at this run's pace; 0 until a batch has finished.
	ETA time.Duration
	// WaitingUntil is set while the job waits for quota: when it frees up.
	WaitingUntil time.Time
}

// A Job sends records to Zoho in batches through a Limiter and accounts for every
// one of them. Run it with Run; set the fields first. Records, Send and Op are
// required; every other field has a working zero value.
//
// Every record ends the run Confirmed (with its Zoho id), Failed (with Zoho's code),
// Unknown (a plain insert whose request may have been written: check before
// resending), or Pending (not sent yet). None is dropped: Run checks that the counts
// add up.
//
// When the quota runs out the job waits for it, as long as ctx (and MaxWait) allow;
// otherwise it stops and, with Checkpoint set, saves what it has done. Run again with
// the same checkpoint, it sends only what is still pending. Canceling ctx stops the
// job too, but batches already sent are allowed to finish (up to SendTimeout) so
// that their results are kept rather than lost.
type Job[R any] struct {
	Op      Op     // Write or Read
	Module  string // the Zoho module ("Leads"); part of the job's identity
	Records []R
	Send    SendFunc[R]

	// Limiter admits each batch's cost. nil means the job admits nothing itself (the
	// send func's client does, with a Transport); do not use both on one budget.
	Limiter *Limiter
	// Cost is the units a request of n records takes. nil means 1 a request on a
	// calendar-day quota (v1) and RequestCredits(Op, n) on a rolling one (v2+).
	Cost func(records int) int
	// Idempotent says a batch may be sent again after an ambiguous failure (an
	// upsert, an update). A plain insert is never resent blindly.
	Idempotent bool
	// BatchSize is the records a request carries; 0 means the op's maximum.
	BatchSize int
	// Concurrency is the batches in flight at once; 0 means 1.
	Concurrency int
	// MaxRetries bounds how often one batch is sent again after a failure that
	// allows it; 0 means 3.
	MaxRetries int
	// MaxWait bounds a wait for quota that is short when a batch asks for it; past
	// it the job stops (and checkpoints) instead. 0 means as long as ctx allows.
	MaxWait time.Duration
	// SendTimeout bounds each send; 0 means 2 minutes.
	SendTimeout time.Duration
	// Cooldown is how long a server refusal blocks the Limiter when neither the
	// refusal nor the ledger says when the quota frees up (a 429 while units
	// remain); 0 means DefaultCooldown.
	Cooldown time.Duration

	// Checkpoint is a file where the job keeps what it has done, written atomically;
	// "" means none. It is read at start if it exists.
	Checkpoint string
	// Identity names the records' source (say, a file's path, size and modification
	// time) in the job's identity; "" means a hash of the records themselves.
	Identity string
	// Lookahead is how many batches are marked "may be sent" in the checkpoint at
	// once, before they are sent; a crash leaves at most these to check. 0 means 8.
	Lookahead int

	// Progress, if set, is called after each batch and when the job starts waiting
	// for quota, from one goroutine at a time.
	Progress func(Progress)
}

// Report accounts for every record of a job. Outcomes[i] is record i's.
type Report struct {
	Job    string `json:"job"`
	Op     Op     `json:"op"`
	Module string `json:"module,omitempty"`

	Total     int `json:"total"`
	Confirmed int `json:"confirmed"`
	Failed    int `json:"failed"`
	Unknown   int `json:"unknown"`
	Pending   int `json:"pending"`
	// Resumed is how many records were already final in the checkpoint.
	Resumed int `json:"resumed"`

	Requests int `json:"requests"` // sent by this run
	Units    int `json:"units"`    // admitted by this run

	// ResumeAt is set when the job stopped for want of quota: when it frees up.
	ResumeAt   time.Time `json:"resume_at,omitzero"`
	Checkpoint string    `json:"checkpoint,omitempty"`
	Outcomes   []Outcome `json:"outcomes"`
}

// Complete reports whether no record is pending.
func (r *Report) Complete() bool { return r.Pending == 0 }

// FailedByCode counts the Failed records by Zoho's code.
func (r *Report) FailedByCode() map[string]int {
	m := make(map[string]int)
	for _, o := range r.Outcomes {
		if o.State == Failed {
			m[o.Result.Code]++
		}
	}
	return m
}

// check verifies that every record is accounted for exactly once.
func (r *Report) check() error {
	var n [4]int
	for _, o := range r.Outcomes {
		if o.State < Pending || o.State > Unknown {
			return fmt.Errorf("zohoquota: record in state %v: %w", o.State, ErrJobIncomplete)
		}
		n[o.State]++
	}
	if len(r.Outcomes) != r.Total || n[Pending] != r.Pending || n[Confirmed] != r.Confirmed ||
		n[Failed] != r.Failed || n[Unknown] != r.Unknown {
		return fmt.Errorf("zohoquota: report does not add up: %d outcomes for %d records, counts %v: %w",
			len(r.Outcomes), r.Total, n, ErrJobIncomplete)
	}
	return nil
}

const maxConsecutiveUnknown = 3

func (j *Job[R]) batchSize() (int, error) {
	size, err := batchSize(j.Op, j.BatchSize)
	if err != nil {
		return 0, fmt.Errorf("zohoquota: job: %w", err)
	}
	return size, nil
}

func (j *Job[R]) cost() func(int) int {
	switch {
	case j.Cost != nil:
		return j.Cost
	case j.Limiter != nil && j.Limiter.Quota().Window.IsRolling():
		op := j.Op
		return func(n int) int { return RequestCredits(op, n) }
	}
	return func(int) int { return 1 }
}

// ID returns the job's identity: a hash of its op, module, batch size, record count
// and Identity (or, without one, the records themselves). A checkpoint is only
// resumed by the job with the same ID.
func (j *Job[R]) ID() (string, error) {
	size, err := j.batchSize()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "zohoquota job v1\x00%v\x00%s\x00%d\x00%d\x00", j.Op, j.Module, size, len(j.Records))
	if j.Identity != "" {
		h.Write([]byte(j.Identity))
	} else {
		enc := json.NewEncoder(h)
		for i, rec := range j.Records {
			if err := enc.Encode(rec); err != nil {
				return "", fmt.Errorf("zohoquota: job identity: record %d: %w", i, err)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:12]), nil
}

// Run sends the job's pending records and returns the report, which is never nil
// once the job has started. The error is nil when no record is pending; otherwise it
// says why the job stopped: a *QuotaError (wrapping ErrQuotaExhausted) when the
// quota ran out and waiting was not allowed, ctx's error, a send error, or a
// checkpoint error. Errors about the job's fields come before anything is sent.
func (j *Job[R]) Run(ctx context.Context) (*Report, error) {
	r, err := j.start()
	if err != nil {
		return nil, err
	}
	return r.run(ctx)
}

// jobRun is one Run of a Job.
type jobRun[R any] struct {
	j                 *Job[R]
	id                string
	size, batches     int
	cost              func(int) int
	retries           int
	started           time.Time
	resumed, lookhead int

	mu       sync.Mutex // guards what follows
	outcomes []Outcome
	final    []bool            // batch has a final state
	raw      []json.RawMessage // batch's checkpoint entry, once final
	inFlight map[int]bool      // batches marked "may be sent" in the checkpoint
	requests int
	units    int
	stopErr  error
	resumeAt time.Time
	unknowns int // consecutive ambiguous failures

	progressMu sync.Mutex
}

func (j *Job[R]) start() (*jobRun[R], error) {
	size, err := j.batchSize()
	if err != nil {
		return nil, err
	}
	if j.Send == nil {
		return nil, fmt.Errorf("zohoquota: job has no send func: %w", ErrInvalidBatch)
	}
	if j.Concurrency < 0 || j.MaxRetries < 0 || j.MaxWait < 0 || j.SendTimeout < 0 || j.Cooldown < 0 || j.Lookahead < 0 {
		return nil, fmt.Errorf("zohoquota: job: Concurrency, MaxRetries, MaxWait, SendTimeout, Cooldown and Lookahead must be 0 or more: %w", ErrInvalidBatch)
	}
	r := &jobRun[R]{
		j: j, size: size, batches: divRoundUp(len(j.Records), size), cost: j.cost(),
		retries: cmpOr(j.MaxRetries, 3), lookhead: cmpOr(j.Lookahead, 8),
		outcomes: make([]Outcome, len(j.Records)), inFlight: make(map[int]bool),
	}
	r.final = make([]bool, r.batches)
	r.raw = make([]json.RawMessage, r.batches)
	if j.Limiter != nil {
		// Every batch is full but the last: check both sizes, so that a job that can
		// never finish fails before it sends anything.
		limit := j.Limiter.Quota().Limit
		for _, n := range []int{min(size, len(j.Records)), len(j.Records) % size} {
			if c := r.cost(n); n > 0 && c > limit {
				return nil, fmt.Errorf("zohoquota: a batch of %d records costs %d, limit %d per window: %w", n, c, limit, ErrCostAboveLimit)
			}
		}
	}
	if j.Checkpoint != "" || j.Identity != "" {
		if r.id, err = j.ID(); err != nil {
			return nil, err
		}
	}
	if j.Checkpoint != "" {
		if err := r.load(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func cmpOr(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func (r *jobRun[R]) batch(b int) []R {
	return r.j.Records[b*r.size : min((b+1)*r.size, len(r.j.Records))]
}

func (r *jobRun[R]) run(ctx context.Context) (*Report, error) {
	r.started = time.Now()
	conc := cmpOr(r.j.Concurrency, 1)
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
dispatch:
	for b := range r.batches {
		if r.isFinal(b) {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			r.stop(ctx.Err())
			break dispatch
		}
		if r.stopped() || ctx.Err() != nil {
			r.stop(ctx.Err())
			<-sem
			break
		}
		p, err := r.admit(ctx, len(r.batch(b)))
		if err == nil {
			if err = r.reserve(b); err != nil {
				r.refund(p)
			}
		}
		if err != nil {
			r.stop(err)
			<-sem
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r.send(ctx, b, p)
		}()
	}
	wg.Wait()
	return r.finish()
}

func (r *jobRun[R]) isFinal(b int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.final[b]
}

func (r *jobRun[R]) stopped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopErr != nil
}

// stop records the first reason the job stops; later ones are dropped.
func (r *jobRun[R]) stop(err error) {
	if err == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopErr != nil {
		return
	}
	r.stopErr = err
	if qe := (*QuotaError)(nil); errors.As(err, &qe) {
		r.resumeAt = qe.ResetAt
	}
}

// permit is an admitted batch; a nil permit (no limiter) admits for free. It is
// used by one goroutine at a time.
type permit struct {
	p     *Permit
	cost  int
	ended bool // released or refunded: the first of the two counts
}

func (p *permit) release() {
	if p != nil && p.p != nil && !p.ended {
		p.ended = true
		p.p.Release()
	}
}

// refund gives p's units back to the limiter and takes them off the run's count
// of units spent, so that the report says what the quota paid.
func (r *jobRun[R]) refund(p *permit) {
	if p == nil || p.p == nil || p.ended {
		return
	}
	p.ended = true
	p.p.Refund()
	r.mu.Lock()
	r.units -= p.cost
	r.mu.Unlock()
}

// admit waits for the quota of a batch of n records, within MaxWait.
func (r *jobRun[R]) admit(ctx context.Context, n int) (*permit, error) {
	c := r.cost(n)
	l := r.j.Limiter
	if l == nil {
		return &permit{cost: c}, nil
	}
	actx := ctx
	var short *QuotaError // the quota was short when asked, and MaxWait bounds the wait
	if r.j.Progress != nil || r.j.MaxWait > 0 {
		// Bound only a wait for quota by MaxWait: when the quota is there now, a
		// deadline could only turn a short wait for a slot into a false stop.
		if u := l.Usage(); u.Remaining < c {
			now := time.Now()
			if u.ResetAt.After(now) {
				r.progress(u.ResetAt)
			}
			if r.j.MaxWait > 0 {
				short = &QuotaError{Key: l.Key(), Cost: c, Used: u.Used, Limit: u.Limit, ResetAt: u.ResetAt, Deadline: now.Add(r.j.MaxWait)}
				if short.Deadline.Before(u.ResetAt) {
					return nil, short
				}
				var cancel context.CancelFunc
				actx, cancel = context.WithDeadline(ctx, short.Deadline)
				defer cancel()
			}
		}
	}
	p, err := l.AcquirePermit(actx, c, 1)
	if err != nil {
		if short != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			err = short
		}
		return nil, err
	}
	r.mu.Lock()
	r.units += c
	r.mu.Unlock()
	return &permit{p: p, cost: c}, nil
}

// reserve marks batch b, and the next Lookahead pending batches with it, as "may be
// sent" in the checkpoint before b is sent, so that a crash can never lead to a
// blind resend.
func (r *jobRun[R]) reserve(b int) error {
	if r.j.Checkpoint == "" {
		return nil
	}
	r.mu.Lock()
	if r.inFlight[b] {
		r.mu.Unlock()
		return nil
	}
	for i, k := b, 0; i < r.batches && k < r.lookhead; i++ {
		if !r.final[i] {
			r.inFlight[i] = true
			k++
		}
	}
	ck := r.snapshot()
	r.mu.Unlock()
	return ck.write(r.j.Checkpoint)
}

// send sends batch b until it has a final state or must stay pending.
func (r *jobRun[R]) send(ctx context.Context, b int, p *permit) {
	batch := r.batch(b)
	timeout := r.j.SendTimeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	for attempt := 1; ; attempt++ {
		// Not canceled with ctx: a batch on the wire finishes, so its result is kept.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		results, err := r.j.Send(sctx, batch)
		cancel()
		if sentOut(err) {
			r.mu.Lock()
			r.requests++
			r.mu.Unlock()
		}
		if err == nil && len(results) != len(batch) {
			err = fmt.Errorf("zohoquota: batch %d: %d results for %d records", b, len(results), len(batch))
		}
		var qe *QuotaError
		switch {
		case err == nil:
			p.release()
			r.record(b, results, nil)
			return
		case errors.As(err, &qe) || errors.Is(err, ErrQuotaExhausted):
			// Zoho (or the client's Transport) said no: nothing was written.
			p.release()
			resetAt := r.serverRefused(ctx, qe, p.cost)
			if r.j.Limiter == nil {
				if qe == nil {
					qe = &QuotaError{Key: "server", Cost: p.cost, ResetAt: resetAt, Server: true}
				}
				r.stop(qe)
				return
			}
			attempt--
		case errors.Is(err, ErrRejected):
			r.refund(p)
			r.stop(fmt.Errorf("zohoquota: batch %d: %w", b, err))
			return
		case errors.Is(err, ErrNotWritten):
			r.refund(p)
		case !r.j.Idempotent && r.j.Op != Read:
			p.release()
			r.record(b, nil, err)
			return
		default:
			p.release()
		}
		if attempt > r.retries {
			r.stop(fmt.Errorf("zohoquota: batch %d: gave up after %d attempts: %w", b, attempt, err))
			return
		}
		if err := sleep(ctx, time.Duration(attempt)*time.Second); err != nil {
			r.stop(err)
			return
		}
		np, aerr := r.admit(ctx, len(batch))
		if aerr != nil {
			r.stop(aerr)
			return
		}
		p = np
	}
}

// serverRefused marks the limiter's quota spent until the server's quota frees up
// and returns that moment. cost is what the refused batch asks for.
func (r *jobRun[R]) serverRefused(ctx context.Context, qe *QuotaError, cost int) time.Time {
	now := time.Now()
	l := r.j.Limiter
	if l == nil {
		if qe != nil && qe.ResetAt.After(now) {
			return qe.ResetAt
		}
		return time.Time{}
	}
	until := r.blockUntil(l, qe, now, cost)
	if err := l.Exhaust(context.WithoutCancel(ctx), until); err != nil {
		r.stop(err)
	}
	return until
}

// blockUntil decides how long a server refusal blocks the quota: the server's
// reset if it gave one (capped at the window), else refusalBlock's rule, which
// Transport shares.
func (r *jobRun[R]) blockUntil(l *Limiter, qe *QuotaError, now time.Time, cost int) time.Time {
	w := l.Quota().Window
	if qe != nil && qe.ResetAt.After(now) {
		return now.Add(min(qe.ResetAt.Sub(now), maxBlock(w)))
	}
	cooldown := r.j.Cooldown
	if cooldown == 0 {
		cooldown = DefaultCooldown
	}
	return refusalBlock(l, now, cost, false, cooldown)
}

// record gives batch b its final state: Zoho's results, or Unknown after sendErr.
func (r *jobRun[R]) record(b int, results []Result, sendErr error) {
	r.mu.Lock()
	base := b * r.size
	if sendErr != nil {
		r.markUnknown(b, "may have been written ("+sendErr.Error()+"); check before resending")
		r.unknowns++
		if r.unknowns >= maxConsecutiveUnknown && r.stopErr == nil {
			r.stopErr = fmt.Errorf("zohoquota: %d ambiguous failures in a row, last: %w: %w", r.unknowns, ErrJobIncomplete, sendErr)
		}
	} else {
		for i, res := range results {
			st := Failed
			if res.OK() {
				st = Confirmed
			}
			r.outcomes[base+i] = Outcome{State: st, Result: res}
		}
		r.unknowns = 0
	}
	r.final[b] = true
	r.mu.Unlock()
	r.progress(time.Time{})
}

func (r *jobRun[R]) counts() (confirmed, failed, unknown int) {
	for _, o := range r.outcomes {
		switch o.State {
		case Confirmed:
			confirmed++
		case Failed:
			failed++
		case Unknown:
			unknown++
		}
	}
	return
}

func (r *jobRun[R]) progress(waitingUntil time.Time) {
	if r.j.Progress == nil {
		return
	}
	r.progressMu.Lock()
	defer r.progressMu.Unlock()
	r.mu.Lock()
	c, f, u := r.counts()
	p := Progress{Total: len(r.outcomes), Confirmed: c, Failed: f, Unknown: u,
		Requests: r.requests, Units: r.units, Elapsed: time.Since(r.started), WaitingUntil: waitingUntil}
	r.mu.Unlock()
	p.Done = c + f + u
	if doneHere := p.Done - r.resumed; doneHere > 0 && p.Elapsed > 0 {
		p.ETA = time.Duration(float64(p.Elapsed) / float64(doneHere) * float64(p.Total-p.Done))
	}
	r.j.Progress(p)
}

// finish writes the last checkpoint (nothing is in flight any more) and builds the
// report.
func (r *jobRun[R]) finish() (*Report, error) {
	r.mu.Lock()
	clear(r.inFlight)
	c, f, u := r.counts()
	rep := &Report{
		Job: r.id, Op: r.j.Op, Module: r.j.Module, Total: len(r.outcomes),
		Confirmed: c, Failed: f, Unknown: u, Pending: len(r.outcomes) - c - f - u, Resumed: r.resumed,
		Requests: r.requests, Units: r.units, Checkpoint: r.j.Checkpoint,
		Outcomes: append([]Outcome(nil), r.outcomes...),
	}
	stopErr := r.stopErr
	if errors.Is(stopErr, ErrQuotaExhausted) {
		rep.ResumeAt = r.resumeAt
	}
	var ck *checkpoint
	if r.j.Checkpoint != "" {
		ck = r.snapshot()
	}
	r.mu.Unlock()
	r.progress(time.Time{})

	var errs []error
	if ck != nil {
		if err := ck.write(r.j.Checkpoint); err != nil {
			errs = append(errs, err)
		}
	}
	if err := rep.check(); err != nil {
		errs = append(errs, err)
	}
	if rep.Pending > 0 {
		if stopErr == nil {
			stopErr = fmt.Errorf("zohoquota: %d records pending: %w", rep.Pending, ErrJobIncomplete)
		}
		errs = append([]error{stopErr}, errs...)
	}
	return rep, errors.Join(errs...)
}

// sentOut reports whether a Send that returned err may have reached Zoho: not when
// the request was never written, nor when a Transport refused it locally.
func sentOut(err error) bool {
	var qe *QuotaError
	if errors.As(err, &qe) && !qe.Server {
		return false
	}
	return !errors.Is(err, ErrNotWritten)
}
