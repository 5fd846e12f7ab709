package zohoquota

import (
	"errors"
	"fmt"
	"iter"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// The most records one Zoho CRM request may carry (zoho-limits.md §1, §4): a read
// returns at most 200 records, an insert, update, upsert or delete takes at most 100.
const (
	MaxRecordsPerRead  = 200
	MaxRecordsPerWrite = 100
)

// MaxDiscretePageRecords is how far `page` reaches into a listing; past it Zoho
// answers DISCRETE_PAGINATION_LIMIT_EXCEEDED and only `page_token` goes on.
const MaxDiscretePageRecords = 2000

// ErrInvalidBatch is wrapped by every error about an operation, a batch size or a
// record count the package cannot use. Its text has no prefix, as it ends messages
// that have one: "zohoquota: batch size 0: need 1 to 200: invalid batch".
var ErrInvalidBatch = errors.New("invalid batch")

// Op is what a request does to records: read them, or write them (insert, update,
// upsert, delete). It decides the batch size and the cost. The zero value is not a
// valid Op.
type Op int

// The operations, as Zoho's limits tell them apart.
const (
	Read Op = iota + 1
	Write
)

// String returns "read" or "write", or "Op(n)" for a value that is not an Op.
func (o Op) String() string {
	switch o {
	case Read:
		return "read"
	case Write:
		return "write"
	}
	return "Op(" + strconv.Itoa(int(o)) + ")"
}

// Valid reports whether o is Read or Write.
func (o Op) Valid() bool { return o == Read || o == Write }

// ParseOp returns the Op named by s ("read" or "write"), ignoring case and space.
func ParseOp(s string) (Op, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "read":
		return Read, nil
	case "write":
		return Write, nil
	}
	return 0, fmt.Errorf("zohoquota: parse op %q (allowed: read, write): %w", s, ErrInvalidBatch)
}

// MarshalText encodes the op as its name. Unknown values are an error.
func (o Op) MarshalText() ([]byte, error) {
	if !o.Valid() {
		return nil, fmt.Errorf("zohoquota: marshal %v: %w", o, ErrInvalidBatch)
	}
	return []byte(o.String()), nil
}

// UnmarshalText decodes an op name as ParseOp does.
func (o *Op) UnmarshalText(text []byte) error {
	v, err := ParseOp(string(text))
	if err != nil {
		return err
	}
	*o = v
	return nil
}

// MaxRecords returns the most records one request of this op may carry: 200 for a
// read, 100 for a write, 0 for an unknown op.
func (o Op) MaxRecords() int {
	switch o {
	case Read:
		return MaxRecordsPerRead
	case Write:
		return MaxRecordsPerWrite
	}
	return 0
}

// WriteBatches splits records into batches of at most MaxRecordsPerWrite. The
// batches are sub-slices of records (nothing is copied), with their capacity clipped
// so that appending to one cannot overwrite the next.
func WriteBatches[S ~[]E, E any](records S) iter.Seq[S] {
	return slices.Chunk(records, MaxRecordsPerWrite)
}

// Batches splits records into batches of at most size records, as WriteBatches
// does. A size below 1 or above MaxRecordsPerRead is an error wrapping
// ErrInvalidBatch; check a write batch against MaxRecordsPerWrite yourself, or use
// BatchesFor.
func Batches[S ~[]E, E any](records S, size int) (iter.Seq[S], error) {
	if size < 1 || size > MaxRecordsPerRead {
		return nil, fmt.Errorf("zohoquota: batch size %d: need 1 to %d: %w", size, MaxRecordsPerRead, ErrInvalidBatch)
	}
	return slices.Chunk(records, size), nil
}

// BatchesFor splits records into batches of at most size records for op; size 0
// means op's maximum. A size above op's maximum is an error wrapping ErrInvalidBatch.
func BatchesFor[S ~[]E, E any](op Op, records S, size int) (iter.Seq[S], error) {
	size, err := batchSize(op, size)
	if err != nil {
		return nil, fmt.Errorf("zohoquota: %w", err)
	}
	return slices.Chunk(records, size), nil
}

// batchSize resolves a batch size for op (0 means the op's maximum) and checks it.
// Its error is an *inputError without the package's prefix: the caller adds its own.
func batchSize(op Op, size int) (int, error) {
	if !op.Valid() {
		return 0, &inputError{fmt.Sprintf("op %v: need read or write", op), []error{ErrInvalidBatch}}
	}
	if size == 0 {
		return op.MaxRecords(), nil
	}
	if size < 0 || size > op.MaxRecords() {
		return 0, &inputError{fmt.Sprintf("%v batch size %d: need 1 to %d", op, size, op.MaxRecords()), []error{ErrInvalidBatch}}
	}
	return size, nil
}

// inputError is what is wrong with a caller's input, and the sentinels it wraps.
// It reads "what: sentinel" with no prefix, so that a caller that wraps it, or
// re-files it under its own sentinel, says each thing once:
// "zohoquota: plan: op Op(0): need read or write: invalid plan".
type inputError struct {
	what string
	errs []error // the first one ends the message
}

func (e *inputError) Error() string { return e.what + ": " + e.errs[0].Error() }

func (e *inputError) Unwrap() []error { return e.errs }

// divRoundUp returns ceil(a/b) for a >= 0, b > 0 (0 for a = 0, unlike ceilDiv).
func divRoundUp(a, b int) int { return (a + b - 1) / b }

// RequestsFor returns how many requests op takes over records records in full
// batches: ceil(n/200) for a read, ceil(n/100) for a write. It is 0 for n <= 0 or
// an unknown op.
func RequestsFor(op Op, records int) int {
	if records <= 0 || !op.Valid() {
		return 0
	}
	return divRoundUp(records, op.MaxRecords())
}

// RequestCredits returns what one request of op carrying records records costs in
// credits under the current API (zoho-limits.md §2): 1 for a read (Get Records), 1
// per 10 records or part of 10 for a write (100 records = 10). A request always costs
// at least 1; an unknown op costs 0.
func RequestCredits(op Op, records int) int {
	switch op {
	case Read:
		return 1
	case Write:
		return max(1, divRoundUp(records, 10))
	}
	return 0
}

// CreditsFor returns the credits op takes over records records sent in full
// batches (200 a read, 100 a write): the sum of RequestCredits over the batches.
// A write of n records costs ceil(n/10) credits; a read, one credit a request. It is
// 0 for n <= 0 or an unknown op.
func CreditsFor(op Op, records int) int {
	if records <= 0 || !op.Valid() {
		return 0
	}
	full, rest := records/op.MaxRecords(), records%op.MaxRecords()
	c := full * RequestCredits(op, op.MaxRecords())
	if rest > 0 {
		c += RequestCredits(op, rest)
	}
	return c
}

// PageInfo is the "info" object of a Get Records response (v2+), the part a Pager
// needs.
type PageInfo struct {
	PerPage       int    `json:"per_page"`
	Count         int    `json:"count"`
	Page          int    `json:"page"`
	MoreRecords   bool   `json:"more_records"`
	NextPageToken string `json:"next_page_token"`
}

// A Pager walks a Get Records listing. Zoho serves the first 2,000 records by
// `page`; past them only by `page_token` (taken from the previous response's
// info.next_page_token, never combined with `page`). A Pager gives the query
// parameters for each request and switches from one to the other on its own:
//
//	p, _ := zohoquota.NewPager(200)
//	for params := range p.Params() {
//		info, err := fetch(params) // GET /crm/v8/Leads?fields=...&<params>
//		if err != nil { ... }
//		if err := p.Update(info); err != nil { ... }
//	}
//
// A Pager is not safe for use by multiple goroutines.
type Pager struct {
	perPage int
	page    int    // the page to ask for next, from 1
	fetched int    // records received so far
	token   string // the page token to ask with, once past the page limit
	done    bool
	pending bool // Params yielded a request whose Update has not come
}

// NewPager returns a Pager asking for perPage records a page (1 to 200).
func NewPager(perPage int) (*Pager, error) {
	if perPage < 1 || perPage > MaxRecordsPerRead {
		return nil, fmt.Errorf("zohoquota: per_page %d: need 1 to %d: %w", perPage, MaxRecordsPerRead, ErrInvalidBatch)
	}
	return &Pager{perPage: perPage, page: 1}, nil
}

// ErrPaging is wrapped by errors about a listing that cannot go on as Zoho requires.
var ErrPaging = errors.New("zohoquota: cannot page on")

// Done reports whether the last response said there were no more records.
func (p *Pager) Done() bool { return p.done }

// Fetched returns how many records the responses so far carried.
func (p *Pager) Fetched() int { return p.fetched }

// Next returns the query parameters of the next request: per_page and either page
// or page_token. ok is false when the listing is over.
func (p *Pager) Next() (params url.Values, ok bool) {
	if p.done {
		return nil, false
	}
	v := url.Values{"per_page": {strconv.Itoa(p.perPage)}}
	if p.token != "" {
		v.Set("page_token", p.token)
	} else {
		v.Set("page", strconv.Itoa(p.page))
	}
	p.pending = true
	return v, true
}

// Params yields the parameters of each request in turn until the listing is over.
// Call Update with each response's info before asking for the next; if the loop
// body does not, the sequence ends rather than ask for the same page forever.
func (p *Pager) Params() iter.Seq[url.Values] {
	return func(yield func(url.Values) bool) {
		for {
			v, ok := p.Next()
			if !ok || !yield(v) || p.pending {
				return
			}
		}
	}
}

// Update takes the info of the response to the last request. Past the first 2,000
// records it needs info.next_page_token; without one it is an error wrapping
// ErrPaging and the Pager is done.
func (p *Pager) Update(info PageInfo) error {
	p.pending = false
	p.fetched += info.Count
	if !info.MoreRecords {
		p.done = true
		return nil
	}
	if p.token == "" && p.page*p.perPage+p.perPage <= MaxDiscretePageRecords {
		p.page++
		return nil
	}
	if info.NextPageToken == "" {
		p.done = true
		return fmt.Errorf("zohoquota: %d records fetched, more remain past the %d-record page limit, and the response has no next_page_token: %w",
			p.fetched, MaxDiscretePageRecords, ErrPaging)
	}
	p.token = info.NextPageToken
	return nil
}
