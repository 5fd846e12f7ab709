package zohoquota_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/zohoquota/zohoquota"
	"github.com/zohoquota/zohoquota/internal/crmsim"
)

// zohoToken stands in for an OAuth transport: it adds the access token Zoho wants.
type zohoToken struct{ token string }

func (z zohoToken) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Zoho-oauthtoken "+z.token)
	return http.DefaultTransport.RoundTrip(req)
}

// Example is the quick start: an ordinary *http.Client kept inside a Standard
// edition org's quota (10 licenses: 52,500 credits a rolling day, 10 calls in
// flight). A simulated Zoho CRM on loopback stands in for www.zohoapis.com.
func Example() {
	zoho, err := crmsim.Start(crmsim.Config{CreditLimit: 52_500, Concurrency: 10})
	if err != nil {
		log.Fatal(err)
	}
	defer zoho.Close()

	quota, err := zohoquota.CreditQuota(zohoquota.Standard, 10, 0)
	if err != nil {
		log.Fatal(err)
	}
	limiter, err := zohoquota.NewLimiter(quota, zohoquota.WithKey("org-60012345"))
	if err != nil {
		log.Fatal(err)
	}
	client := &http.Client{Transport: &zohoquota.Transport{
		Base:    zohoToken{"1000.example"}, // your OAuth transport; nil means http.DefaultTransport
		Limiter: limiter,
		Cost:    zohoquota.CreditCost,
	}}
	resp, err := client.Get(zoho.URL + "/crm/v8/Leads?fields=Last_Name")
	if err != nil {
		log.Fatal(err) // wraps zohoquota.ErrQuotaExhausted when the budget is gone
	}
	resp.Body.Close() // frees the concurrency slot
	u := limiter.Usage()
	fmt.Println(resp.StatusCode, u.Used, "of", u.Limit, "credits used")
	// Output: 204 1 of 52500 credits used
}

func ExampleDailyRequestCap() {
	// The v1 API's worked example: 10 Standard licenses at 250 requests each.
	n, err := zohoquota.DailyRequestCap(zohoquota.Standard, 10)
	fmt.Println(n, err)
	// On Professional the floor of 3,000 applies to 10 licenses.
	n, err = zohoquota.DailyRequestCap(zohoquota.Professional, 10)
	fmt.Println(n, err)
	_, err = zohoquota.DailyRequestCap(zohoquota.Standard, 0)
	fmt.Println(err)
	// Output:
	// 2500 <nil>
	// 3000 <nil>
	// zohoquota: 0 licenses: need at least 1: zohoquota: invalid license count
}

func ExampleCreditCap() {
	for _, e := range []zohoquota.Edition{zohoquota.Free, zohoquota.Standard, zohoquota.Enterprise, zohoquota.Ultimate} {
		n, _ := zohoquota.CreditCap(e, 20, 0)
		fmt.Printf("%-10s %9d credits / 24 h, %2d calls in flight\n", e, n, e.MaxConcurrency())
	}
	// Output:
	// Free            5000 credits / 24 h,  5 calls in flight
	// Standard       55000 credits / 24 h, 10 calls in flight
	// Enterprise     70000 credits / 24 h, 20 calls in flight
	// Ultimate       90000 credits / 24 h, 25 calls in flight
}

func ExampleParseEdition() {
	e, err := zohoquota.ParseEdition(" Zoho One ")
	fmt.Println(e, err)
	_, err = zohoquota.ParseEdition("gold")
	fmt.Println(errors.Is(err, zohoquota.ErrUnknownEdition))
	// Output:
	// Enterprise <nil>
	// true
}

func ExampleNextReset() {
	// 20:00 on 3 Dec 2026 in UTC is noon PST: the v1 quota resets at 08:00 UTC.
	t := time.Date(2026, 12, 3, 20, 0, 0, 0, time.UTC)
	fmt.Println(zohoquota.NextReset(t, zohoquota.PST).UTC())
	// The spring-forward day in Los Angeles lasts 23 hours.
	day := time.Date(2026, 3, 8, 0, 0, 0, 0, zohoquota.Pacific())
	fmt.Println(zohoquota.NextReset(day, zohoquota.Pacific()).Sub(day))
	// Output:
	// 2026-12-04 08:00:00 +0000 UTC
	// 23h0m0s
}

// A Wait whose deadline ends before the quota frees up fails at once, with the
// moment the call could succeed.
func ExampleLimiter_Wait() {
	limiter, err := zohoquota.NewLimiter(zohoquota.Quota{Limit: 2, Window: zohoquota.Rolling(24 * time.Hour)})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(limiter.AllowN(2), limiter.Allow())

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = limiter.Wait(ctx)
	var qe *zohoquota.QuotaError
	if errors.As(err, &qe) {
		fmt.Println("exhausted:", errors.Is(err, zohoquota.ErrQuotaExhausted))
		fmt.Println("frees up in a day:", time.Until(qe.ResetAt).Round(time.Hour))
	}
	// Output:
	// true false
	// exhausted: true
	// frees up in a day: 24h0m0s
}
