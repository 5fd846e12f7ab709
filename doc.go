// Package zohoquota keeps Go integrations inside Zoho CRM's API limits.
//
// Zoho meters every organization: the legacy v1 API by requests per calendar day
// (reset at 00:00 Pacific), the current API by credits over a rolling 24 hours plus a
// cap on calls in flight. zohoquota computes an organization's caps from its edition
// and licenses, admits each call through a Limiter before it is sent, and wraps any
// http.RoundTripper so that an existing *http.Client stays inside the budget and
// listens to what Zoho says back.
//
// Quick start:
//
//	q, err := zohoquota.CreditQuota(zohoquota.Enterprise, 25, 0) // 75,000 credits / 24 h, 20 in flight
//	if err != nil { ... }
//	lim, err := zohoquota.NewLimiter(q, zohoquota.WithKey("org-60012345"))
//	if err != nil { ... }
//	client := &http.Client{Transport: &zohoquota.Transport{Limiter: lim, Cost: zohoquota.CreditCost}}
//	resp, err := client.Get("https://www.zohoapis.com/crm/v8/Leads?fields=Last_Name")
//	// err wraps ErrQuotaExhausted when the budget is gone; errors.As gives *QuotaError.ResetAt.
//
// The quota lives in a Store: the in-process MemoryStore by default, or package
// redisstore to share one organization's budget between processes.
package zohoquota
