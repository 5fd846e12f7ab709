package main

import (
	"github.com/zohoquota/zohoquota/internal/crmsim"
)

// simToken is the access token sent to the simulated CRM, which takes any.
const simToken = "simulated"

// startSimulated serves a simulated Zoho CRM on loopback with the organization's
// credits and concurrency, for trying an import without a Zoho account.
func startSimulated(o org) (*crmsim.Running, error) {
	return crmsim.Start(crmsim.Config{API: crmsim.V8, CreditLimit: o.quota.Limit, Concurrency: o.quota.Concurrency})
}
