package zohoquota_test

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"

	"github.com/zohoquota/zohoquota"
)

// exampleZoho stands in for Zoho CRM so the example runs offline: it answers the
// first call with 30,000 credits remaining, and every later one with 429.
type exampleZoho struct{ calls int }

func (z *exampleZoho) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	z.calls++
	resp := &http.Response{
		StatusCode: http.StatusOK,
		Header:     http.Header{"X-Api-Credits-Remaining": {"30000"}},
		Body:       io.NopCloser(strings.NewReader(`{"data":[]}`)),
		Request:    req,
	}
	if z.calls > 1 {
		resp.StatusCode, resp.Header = http.StatusTooManyRequests, http.Header{"Retry-After": {"60"}}
	}
	return resp, nil
}

// ExampleTransport limits an http.Client to a Standard edition org with 10 user
// licenses: 52,500 credits a rolling day, 10 calls in flight.
func ExampleTransport() {
	quota, err := zohoquota.CreditQuota(zohoquota.Standard, 10, 0)
	if err != nil {
		log.Fatal(err)
	}
	limiter, err := zohoquota.NewLimiter(quota)
	if err != nil {
		log.Fatal(err)
	}
	zoho := &exampleZoho{}
	client := &http.Client{Transport: &zohoquota.Transport{
		Base:    zoho, // in production: nil, for http.DefaultTransport (wrapped in your OAuth transport)
		Limiter: limiter,
		Cost:    zohoquota.CreditCost,
		Slots:   zohoquota.CompositeSlots,
	}}

	// Inserting 25 records costs 3 credits; the server's figure then corrects the ledger.
	records := `{"data":[` + strings.TrimSuffix(strings.Repeat(`{"Last_Name":"Lee"},`, 25), ",") + `]}`
	resp, err := client.Post("https://www.zohoapis.com/crm/v8/Leads", "application/json", strings.NewReader(records))
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close() // frees the concurrency slot
	fmt.Println("remaining after the insert:", limiter.Usage().Remaining)

	// Zoho refuses the next call (429). The refusal comes back as an error, never
	// as a response, and the calls after it fail without reaching Zoho until the
	// minute it asked for (Retry-After) has passed.
	for range 3 {
		_, err = client.Get("https://www.zohoapis.com/crm/v8/Leads")
		var qe *zohoquota.QuotaError
		if errors.As(err, &qe) {
			fmt.Println("refused by the server:", qe.Server, "| quota exhausted:", errors.Is(err, zohoquota.ErrQuotaExhausted))
		}
	}
	fmt.Println("calls that reached Zoho:", zoho.calls)
	// Output:
	// remaining after the insert: 30000
	// refused by the server: true | quota exhausted: true
	// refused by the server: false | quota exhausted: true
	// refused by the server: false | quota exhausted: true
	// calls that reached Zoho: 2
}
