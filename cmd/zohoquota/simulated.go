package main

import (
	"errors"
	"net/http"
)

// simulated is a simulated Zoho CRM served on loopback.
type simulated interface {
	Close()
	Client() *http.Client
}

type simServer struct {
	simulated
	URL string
}

// startSimulated serves the simulated CRM with the organization's quota.
func startSimulated(o org) (*simServer, error) {
	return nil, errors.New("the simulated CRM (internal/crmsim) is not in this build yet: pass -url")
}
