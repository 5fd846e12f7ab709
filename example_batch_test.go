package zohoquota_test

import (
	"context"
	"fmt"
	"time"

	"github.com/zohoquota/zohoquota"
)

// Split a job into write batches and count what it costs.
func ExampleWriteBatches() {
	records := make([]string, 250)
	for batch := range zohoquota.WriteBatches(records) {
		fmt.Println(len(batch))
	}
	fmt.Println(zohoquota.RequestsFor(zohoquota.Write, 250_000), "requests,",
		zohoquota.CreditsFor(zohoquota.Write, 250_000), "credits")
	// Output:
	// 100
	// 100
	// 50
	// 2500 requests, 25000 credits
}

// Plan a migration: the v1 document's worked example, started at 23:30 PST.
func ExampleNewPlan() {
	q, _ := zohoquota.V1Quota(zohoquota.Standard, 10) // 2,500 requests a day
	p, err := zohoquota.NewPlan(zohoquota.PlanInput{
		Op: zohoquota.Write, Records: 600_000, Quota: q,
		Start: time.Date(2025, 1, 15, 23, 30, 0, 0, zohoquota.PST),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.RecordsPerWindow, "records a day")
	for _, w := range p.Windows {
		fmt.Println(w.Start.Format("Jan 2 15:04"), w.Records)
	}
	fmt.Println("last request at", p.Finish.Format("Jan 2 15:04 MST"))
	// Output:
	// 250000 records a day
	// Jan 15 23:30 250000
	// Jan 16 00:00 250000
	// Jan 17 00:00 100000
	// last request at Jan 17 00:00 PST
}

// Run a bulk job through a limiter; every record ends confirmed, failed or pending.
func ExampleJob() {
	l, _ := zohoquota.NewLimiter(zohoquota.Quota{Limit: 2, Window: zohoquota.Daily(nil)})
	send := func(_ context.Context, batch []string) ([]zohoquota.Result, error) {
		out := make([]zohoquota.Result, len(batch))
		for i, name := range batch {
			out[i] = zohoquota.Result{Code: "SUCCESS", Status: "success", ID: "id-" + name}
		}
		return out, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // no waiting for the reset
	defer cancel()
	job := &zohoquota.Job[string]{Op: zohoquota.Write, Records: make([]string, 250), Send: send, Limiter: l}
	rep, err := job.Run(ctx)
	fmt.Println(rep.Confirmed, "confirmed,", rep.Pending, "pending")
	fmt.Println(err != nil && rep.ResumeAt.After(time.Now()))
	// Output:
	// 200 confirmed, 50 pending
	// true
}
