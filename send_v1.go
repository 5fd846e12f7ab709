package zohoquota

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// V1Target is where V1Write sends records: a module of one Zoho CRM organization
// under the legacy v1 API.
type V1Target struct {
	// Client sends the requests; nil means http.DefaultClient. Give it a Transport
	// (with Cost V1Cost) to admit each request there instead of in the Job (not
	// both: then leave Job.Limiter nil).
	Client *http.Client
	// BaseURL is the organization's CRM domain, "https://crm.zoho.com" (or .eu,
	// ...; a crmsim server's URL in tests).
	BaseURL string
	// Module is the module's API name, "Leads"; it is also the root element of
	// the xmlData.
	Module string
	// AuthToken is the v1 authtoken. It is sent in the form body, never in the
	// URL, so that it stays out of logs and errors.
	AuthToken string
}

// The v1 codes of the daily cap.
const (
	v1CodeRateLimit     = "4820" // rate limit exceeded
	v1CodeCallsExceeded = "4421" // number of API calls exceeded
)

// v1Refusals are the request-level v1 codes that certainly mean Zoho processed
// nothing and that sending the same request again cannot change: a bad authtoken,
// a bad or missing parameter (more than 100 rows among them), unparsable XML, a
// missing mandatory field (only request-level without version=4). Any other
// request-level code is reported as an ambiguous error.
var v1Refusals = map[string]string{
	"4834": "invalid authtoken",
	"4600": "bad parameter",
	"4831": "missing parameter",
	"4835": "XML parsing error",
	"4401": "mandatory field missing",
}

var v1ModuleName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

// V1Write returns a SendFunc that inserts a batch with the legacy v1 API:
// POST {BaseURL}/crm/private/json/{Module}/insertRecords with the form fields
// authtoken, scope=crmapi, version=4 (one result per row) and xmlData,
// <Leads><row no="1"><FL val="Last Name">Smith</FL>...</row></Leads>.
//
// A record is a map[string]string, a map[string]any, or anything encoding/json
// turns into an object (a struct, with its json tags). Its keys are API names
// (Last_Name); each is sent as the v1 field label made by turning underscores into
// spaces ("Last Name"), so a key that already is a label passes unchanged. Fields
// go in sorted key order; a null value is left out; numbers and booleans are sent
// as JSON writes them; a nested object or array cannot be sent (ErrRejected).
//
// duplicateCheck is not sent: every row is a plain insert, so a Job using V1Write
// must not set Idempotent.
//
// Each result is mapped back to its record by the row's "no". A row Zoho added has
// Code "2000", Status "success" and ID the new record's id; a refused row has
// Zoho's code ("4401" for a missing mandatory field), Status "error" and Zoho's
// explanation in Message.
//
// Its errors follow SendFunc's contract. Nothing is sent for a batch of more than
// MaxRecordsPerWrite records (ErrRejected, ErrInvalidBatch) or an empty one (no
// results, no error). Zoho's v1 answers every error with HTTP 200 and a code in
// the body: 4820 and 4421 (the daily cap) give a *QuotaError with Server set and
// ResetAt the next 00:00 PST (fixed UTC-8: never early, an hour late if Zoho
// follows daylight saving); 4834, 4600, 4831, 4835 and 4401 give ErrRejected; any
// other code, a 5xx or an unreadable answer is ambiguous. A client's Transport
// that refuses the call returns its *QuotaError, passed through. A request never
// written to the connection wraps ErrNotWritten.
func V1Write[R any](t V1Target) SendFunc[R] {
	client := t.Client
	if client == nil {
		client = http.DefaultClient
	}
	endpoint := strings.TrimRight(t.BaseURL, "/") + "/crm/private/json/" + url.PathEscape(t.Module) + "/insertRecords"
	return func(ctx context.Context, batch []R) ([]Result, error) {
		if len(batch) == 0 {
			return nil, nil
		}
		if len(batch) > MaxRecordsPerWrite {
			return nil, fmt.Errorf("zohoquota: v1 insert of %d records, at most %d: %w: %w",
				len(batch), MaxRecordsPerWrite, ErrRejected, ErrInvalidBatch)
		}
		if !v1ModuleName.MatchString(t.Module) {
			return nil, fmt.Errorf("zohoquota: v1 module %q: %w", t.Module, ErrRejected)
		}
		xmlData, err := v1XML(t.Module, batch)
		if err != nil {
			return nil, fmt.Errorf("zohoquota: encode batch: %w: %w", ErrRejected, err)
		}
		form := url.Values{
			"authtoken": {t.AuthToken},
			"scope":     {"crmapi"},
			"version":   {"4"},
			"xmlData":   {xmlData},
		}
		resp, data, err := postBatch(ctx, client, endpoint, "application/x-www-form-urlencoded", []byte(form.Encode()), "")
		if err != nil {
			return nil, err
		}
		return parseV1Insert(resp, data, len(batch), time.Now())
	}
}

// v1XML encodes batch as insertRecords' xmlData, rows numbered from 1.
func v1XML[R any](module string, batch []R) (string, error) {
	var b strings.Builder
	b.WriteString("<" + module + ">")
	for i, rec := range batch {
		fields, err := v1Fields(rec)
		if err != nil {
			return "", fmt.Errorf("record %d: %w", i, err)
		}
		fmt.Fprintf(&b, `<row no="%d">`, i+1)
		for _, k := range slices.Sorted(maps.Keys(fields)) {
			b.WriteString(`<FL val="`)
			xml.EscapeText(&b, []byte(strings.ReplaceAll(k, "_", " ")))
			b.WriteString(`">`)
			xml.EscapeText(&b, []byte(fields[k]))
			b.WriteString("</FL>")
		}
		b.WriteString("</row>")
	}
	b.WriteString("</" + module + ">")
	return b.String(), nil
}

// v1Fields returns a record's fields as text, keyed by API name.
func v1Fields(rec any) (map[string]string, error) {
	if m, ok := rec.(map[string]string); ok {
		return m, nil
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	fields := make(map[string]string, len(raw))
	for k, v := range raw {
		switch v[0] {
		case 'n': // null
		case '"':
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, fmt.Errorf("field %s: %w", k, err)
			}
			fields[k] = s
		case '{', '[':
			return nil, fmt.Errorf("field %s: v1 cannot take a nested object or array", k)
		default: // a number or a boolean
			fields[k] = string(v)
		}
	}
	return fields, nil
}

// v1Text is a v1 code or row number: a JSON string, or a number in answers whose
// XML-to-JSON conversion took it for one.
type v1Text string

func (t *v1Text) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*t = v1Text(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*t = v1Text(n)
	return nil
}

// v1List decodes a v1 list, which holds a single element as an object rather
// than an array (the real API's XML-to-JSON conversion; crmsim mirrors it).
type v1List[T any] []T

func (l *v1List[T]) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		return json.Unmarshal(b, (*[]T)(l))
	}
	var one T
	if err := json.Unmarshal(b, &one); err != nil {
		return err
	}
	*l = v1List[T]{one}
	return nil
}

type v1Answer struct {
	Response struct {
		Error  *v1Status `json:"error"`
		Result *struct {
			Row v1List[v1Row] `json:"row"`
		} `json:"result"`
	} `json:"response"`
}

type v1Status struct {
	Code    v1Text `json:"code"`
	Message string `json:"message"`
	// Details is a row's: the added record's fields (FL), or why it was refused
	// (a string).
	Details json.RawMessage `json:"details"`
}

type v1Row struct {
	No      v1Text    `json:"no"`
	Success *v1Status `json:"success"`
	Error   *v1Status `json:"error"`
}

type v1FL struct {
	Val     string `json:"val"`
	Content string `json:"content"`
}

func parseV1Insert(resp *http.Response, body []byte, n int, now time.Time) ([]Result, error) {
	var ans v1Answer
	jsonErr := json.Unmarshal(body, &ans)
	if resp.StatusCode == http.StatusTooManyRequests {
		return nil, v1QuotaError(now)
	}
	if e := ans.Response.Error; jsonErr == nil && e != nil {
		return nil, v1RequestError(resp.StatusCode, e, now)
	}
	if jsonErr == nil && ans.Response.Result != nil && resp.StatusCode < 500 {
		return v1Results(ans.Response.Result.Row, n)
	}
	if resp.StatusCode >= 400 && resp.StatusCode < 500 {
		return nil, fmt.Errorf("zohoquota: HTTP %d: %w", resp.StatusCode, ErrRejected)
	}
	return nil, fmt.Errorf("zohoquota: HTTP %d: unexpected answer to a v1 insert", resp.StatusCode)
}

// v1QuotaError is the server's refusal for the day: the v1 count resets at
// 00:00 PST.
func v1QuotaError(now time.Time) *QuotaError {
	return &QuotaError{Key: "server", Cost: 1, Server: true, ResetAt: NextReset(now, PST)}
}

func v1RequestError(status int, e *v1Status, now time.Time) error {
	code := string(e.Code)
	if code == v1CodeRateLimit || code == v1CodeCallsExceeded {
		return v1QuotaError(now)
	}
	what := fmt.Sprintf("HTTP %d: v1 error %s: %s", status, code, e.Message)
	if why, ok := v1Refusals[code]; ok {
		return fmt.Errorf("zohoquota: %s (%s): %w", what, why, ErrRejected)
	}
	return fmt.Errorf("zohoquota: %s", what)
}

// v1Results puts the rows' results in input order by their "no". Rows that do not
// number the batch exactly once each make the answer ambiguous.
func v1Results(rows []v1Row, n int) ([]Result, error) {
	if len(rows) != n {
		return nil, fmt.Errorf("zohoquota: v1 insert: %d results for %d records", len(rows), n)
	}
	out := make([]Result, n)
	seen := make([]bool, n)
	for _, row := range rows {
		no, err := strconv.Atoi(string(row.No))
		if err != nil || no < 1 || no > n || seen[no-1] {
			return nil, fmt.Errorf("zohoquota: v1 insert: row no %q does not match a record of %d", row.No, n)
		}
		seen[no-1] = true
		res, err := v1RowResult(row)
		if err != nil {
			return nil, fmt.Errorf("zohoquota: v1 insert: row %d: %w", no, err)
		}
		out[no-1] = res
	}
	return out, nil
}

func v1RowResult(row v1Row) (Result, error) {
	switch {
	case row.Success != nil:
		var d struct {
			FL v1List[v1FL] `json:"FL"`
		}
		if err := json.Unmarshal(row.Success.Details, &d); err != nil {
			return Result{}, fmt.Errorf("success details: %w", err)
		}
		res := Result{Code: string(row.Success.Code), Status: "success", Message: row.Success.Message}
		for _, f := range d.FL {
			if f.Val == "Id" {
				res.ID = f.Content
			}
		}
		if res.ID == "" {
			return Result{}, fmt.Errorf("success %s without a record id", res.Code)
		}
		return res, nil
	case row.Error != nil:
		res := Result{Code: string(row.Error.Code), Status: "error", Message: row.Error.Message}
		var why string
		if json.Unmarshal(row.Error.Details, &why) == nil && why != "" {
			res.Message = why
		} else if len(row.Error.Details) > 0 {
			var d map[string]any
			if json.Unmarshal(row.Error.Details, &d) == nil {
				res.Details = d
			}
		}
		if res.Code == "" {
			return Result{}, errors.New("error without a code")
		}
		return res, nil
	}
	return Result{}, errors.New("neither success nor error")
}
