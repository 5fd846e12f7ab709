// Command roundtripper shows the smallest integration: an existing *http.Client made
// quota-safe by wrapping its transport. It reads leads page by page from a simulated
// Zoho CRM on a Free edition quota shrunk to 12 credits, so the quota runs out after
// a few pages: the next call fails locally, before reaching Zoho, with the moment it
// could succeed.
//
//	go run ./examples/roundtripper
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"

	"github.com/zohoquota/zohoquota"
	"github.com/zohoquota/zohoquota/internal/crmsim"
)

func main() {
	if err := run(os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// bearer adds the OAuth access token, as an integration's own transport would.
type bearer struct{ token string }

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Zoho-oauthtoken "+b.token)
	return http.DefaultTransport.RoundTrip(req)
}

func run(w io.Writer) error {
	quota, err := zohoquota.CreditQuota(zohoquota.Free, 1, 0)
	if err != nil {
		return err
	}
	quota.Limit = 12 // a small budget, to see it run out (past 2,000 records, paging switches to page_token)

	zoho, err := crmsim.Start(crmsim.Config{CreditLimit: quota.Limit, Concurrency: quota.Concurrency})
	if err != nil {
		return err
	}
	defer zoho.Close()
	zoho.Seed("Leads", 5000)

	limiter, err := zohoquota.NewLimiter(quota, zohoquota.WithKey("org-example"))
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &zohoquota.Transport{
		Base:      bearer{"1000.example"},
		Limiter:   limiter,
		Cost:      zohoquota.CreditCost,
		Throttles: zohoquota.DefaultThrottles(),
	}}

	pager, err := zohoquota.NewPager(zohoquota.MaxRecordsPerRead)
	if err != nil {
		return err
	}
	read := 0
	for params := range pager.Params() {
		params.Set("fields", "Last_Name,Company")
		resp, err := client.Get(zoho.URL + "/crm/v8/Leads?" + params.Encode())
		var qe *zohoquota.QuotaError
		if errors.As(err, &qe) {
			fmt.Fprintf(w, "stopped after %d records: %v\n", read, errors.Unwrap(err))
			fmt.Fprintf(w, "local refusal (nothing sent): %v; credits free up at %s\n",
				!qe.Server, qe.ResetAt.In(zohoquota.Pacific()).Format("Mon 2 Jan 15:04 MST"))
			break
		}
		if err != nil {
			return err
		}
		var page struct {
			Data []json.RawMessage  `json:"data"`
			Info zohoquota.PageInfo `json:"info"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close() // frees the concurrency slot
		if err != nil {
			return err
		}
		read += len(page.Data)
		if err := pager.Update(page.Info); err != nil {
			return err
		}
		u := limiter.Usage()
		fmt.Fprintf(w, "page of %3d records, %5d read, %2d of %d credits used\n", len(page.Data), read, u.Used, u.Limit)
	}
	stats := zoho.Stats()
	fmt.Fprintf(w, "Zoho saw %d calls and answered 429 %d times\n", stats.Requests, stats.Rejected429)
	return nil
}
