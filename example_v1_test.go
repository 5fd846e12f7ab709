package zohoquota_test

import (
	"context"
	"fmt"
	"log"

	"github.com/zohoquota/zohoquota"
	"github.com/zohoquota/zohoquota/internal/crmsim"
)

// ExampleV1Write inserts two leads through the legacy v1 API; the second lacks its
// mandatory Last Name and is refused alone. A simulated v1 CRM on loopback stands in
// for crm.zoho.com.
func ExampleV1Write() {
	zoho, err := crmsim.Start(crmsim.Config{API: crmsim.V1, DailyLimit: 1000})
	if err != nil {
		log.Fatal(err)
	}
	defer zoho.Close()

	send := zohoquota.V1Write[map[string]string](zohoquota.V1Target{
		BaseURL: zoho.URL, Module: "Leads", AuthToken: "your-authtoken",
	})
	results, err := send(context.Background(), []map[string]string{
		{"Last_Name": "Smith", "Company": "Acme"},
		{"Company": "Initech"},
	})
	if err != nil {
		log.Fatal(err) // wraps zohoquota.ErrQuotaExhausted (4820), ErrRejected, ...
	}
	for _, r := range results {
		fmt.Println(r.OK(), r.Code)
	}
	// Output:
	// true 2000
	// false 4401
}
