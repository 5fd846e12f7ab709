// Command bulkimport is zohoquota's main job end to end: it imports a CSV of leads
// into Zoho CRM in 100-record batches through an ordinary *http.Client whose
// transport is a zohoquota.Transport, shows progress on stderr, and ends with a
// report that accounts for every record.
//
// With no flags it imports testdata/leads.csv into a simulated Zoho CRM served on
// loopback (internal/crmsim), which enforces the edition's limits as Zoho does:
//
//	go run ./examples/bulkimport
//	go run ./examples/bulkimport -edition free -api v1
//	go run ./examples/bulkimport -cap 400        # a quota too small: stops cleanly, lists what is left
//
// With -url and $ZOHO_ACCESS_TOKEN (v8) or $ZOHO_AUTHTOKEN (v1) the same job runs
// against a real Zoho data centre, such as https://www.zohoapis.com.
//
// The exit status is 0 when every record is written or rejected by Zoho with its
// error code, 1 when any record is not yet written or in doubt, 2 for bad flags.
package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zohoquota/zohoquota"
	"github.com/zohoquota/zohoquota/internal/crmsim"
	"github.com/zohoquota/zohoquota/internal/csvheader"
)

type config struct {
	edition   zohoquota.Edition
	licenses  int
	api       string
	file      string
	url       string
	module    string
	capLimit  int
	rest      string
	profile   string
	token     string
	progress  time.Duration
	simulated bool
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "bulkimport:", err)
		return 2
	}
	if cfg.profile != "" {
		f, err := os.Create(cfg.profile)
		if err != nil {
			fmt.Fprintln(stderr, "bulkimport:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "bulkimport:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	// The first Ctrl-C stops the job gracefully (batches on the wire finish); a
	// second one, with the default handler back, ends the process.
	context.AfterFunc(ctx, stop)
	code, err := importFile(ctx, cfg, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "bulkimport:", err)
	}
	return code
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("bulkimport", flag.ContinueOnError)
	fs.SetOutput(stderr)
	edition := fs.String("edition", "professional", "Zoho CRM `edition`: free, standard, professional, enterprise, ultimate")
	cfg := config{}
	fs.IntVar(&cfg.licenses, "licenses", 10, "user `licenses` of the organization")
	fs.StringVar(&cfg.api, "api", "v8", "API generation: v8 (credits over a rolling 24 h) or v1 (requests a day)")
	fs.StringVar(&cfg.file, "file", "testdata/leads.csv", "CSV `file`: a header of Zoho field API names, one lead a row")
	fs.StringVar(&cfg.url, "url", "", "Zoho API domain (https://www.zohoapis.com for v8, https://crm.zoho.com for v1); empty means a simulated CRM on loopback")
	fs.StringVar(&cfg.module, "module", "Leads", "Zoho CRM `module` to write to")
	fs.IntVar(&cfg.capLimit, "cap", 0, "override the org's quota with this `limit` (credits or requests); 0 means the edition's")
	fs.StringVar(&cfg.rest, "rest", "", "write the records not yet written to this CSV `file`, to import later")
	fs.StringVar(&cfg.profile, "cpuprofile", "", "write a CPU profile to `file`")
	fs.DurationVar(&cfg.progress, "progress", time.Second, "how often to print progress on stderr")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if cfg.edition, err = zohoquota.ParseEdition(*edition); err != nil {
		return cfg, err
	}
	if cfg.api != "v8" && cfg.api != "v1" {
		return cfg, fmt.Errorf("-api %q: allowed: v8, v1", cfg.api)
	}
	if cfg.capLimit < 0 {
		return cfg, fmt.Errorf("-cap %d: need 0 (the edition's quota) or more", cfg.capLimit)
	}
	if cfg.progress <= 0 {
		return cfg, fmt.Errorf("-progress %v: need a positive duration", cfg.progress)
	}
	cfg.simulated = cfg.url == ""
	if !cfg.simulated {
		env := map[string]string{"v8": "ZOHO_ACCESS_TOKEN", "v1": "ZOHO_AUTHTOKEN"}[cfg.api]
		if cfg.token = os.Getenv(env); cfg.token == "" {
			return cfg, fmt.Errorf("-url needs $%s", env)
		}
	}
	return cfg, nil
}

func quotaFor(cfg config) (zohoquota.Quota, error) {
	var q zohoquota.Quota
	var err error
	if cfg.api == "v1" {
		q, err = zohoquota.V1Quota(cfg.edition, cfg.licenses)
	} else {
		q, err = zohoquota.CreditQuota(cfg.edition, cfg.licenses, 0)
	}
	if err == nil && cfg.capLimit > 0 {
		q.Limit = cfg.capLimit
	}
	return q, err
}

// startSimulated serves a simulated Zoho CRM that enforces the same quota.
func startSimulated(cfg config, q zohoquota.Quota) (*crmsim.Running, error) {
	sc := crmsim.Config{Concurrency: q.Concurrency, Latency: 2 * time.Millisecond}
	if cfg.api == "v1" {
		sc.API, sc.DailyLimit = crmsim.V1, q.Limit
	} else {
		sc.CreditLimit = q.Limit
	}
	return crmsim.Start(sc)
}

func importFile(ctx context.Context, cfg config, stdout, stderr io.Writer) (int, error) {
	header, records, err := readCSV(cfg.file)
	if err != nil {
		return 2, err
	}
	q, err := quotaFor(cfg)
	if err != nil {
		return 2, err
	}
	baseURL, token := cfg.url, cfg.token
	if cfg.simulated {
		sim, err := startSimulated(cfg, q)
		if err != nil {
			return 1, err
		}
		defer sim.Close()
		baseURL, token = sim.URL, "simulated"
	}

	limiter, err := zohoquota.NewLimiter(q, zohoquota.WithKey("bulkimport"))
	if err != nil {
		return 2, err
	}
	transport := &zohoquota.Transport{Limiter: limiter, Cost: zohoquota.CreditCost}
	send := zohoquota.V8Write[map[string]string](zohoquota.V8Target{
		Client: &http.Client{Transport: transport}, BaseURL: baseURL, Module: cfg.module, Token: token,
	})
	concurrency := max(1, q.Concurrency)
	if cfg.api == "v1" {
		transport.Cost = zohoquota.V1Cost
		send = zohoquota.V1Write[map[string]string](zohoquota.V1Target{
			Client: &http.Client{Transport: transport}, BaseURL: baseURL, Module: cfg.module, AuthToken: token,
		})
		concurrency = 4
	} else {
		// Writes of more than 10 records are "complex": 10 in flight on every edition.
		sub, err := zohoquota.NewLimiter(zohoquota.Quota{Limit: q.Limit, Window: q.Window, Concurrency: 10},
			zohoquota.WithKey("bulkimport-complex"))
		if err != nil {
			return 2, err
		}
		transport.SubLimiter = sub
	}

	fmt.Fprintf(stderr, "importing %d %s from %s into %s (%s, %d licenses, %s: %d %s, %s)\n",
		len(records), cfg.module, cfg.file, target(cfg, baseURL), cfg.edition, cfg.licenses, cfg.api,
		q.Limit, unit(cfg), q.Window)
	job := &zohoquota.Job[map[string]string]{
		Op:          zohoquota.Write,
		Module:      cfg.module,
		Records:     records,
		Send:        send,
		Concurrency: concurrency,
	}
	// The Transport admits every request, so the limiter is what knows the credits
	// spent (the job's own Units count only what a Job.Limiter admits).
	before := limiter.Usage().Used
	spent := func() int { return limiter.Usage().Used - before }
	job.Progress = progressPrinter(stderr, cfg, spent)
	start := time.Now()
	rep, runErr := job.Run(ctx)
	if rep == nil {
		return 1, runErr
	}
	printReport(stdout, cfg, rep, spent(), limiter.Usage(), time.Since(start), runErr)
	if cfg.rest != "" {
		if err := writeRest(cfg.rest, header, records, rep); err != nil {
			return 1, err
		}
		fmt.Fprintf(stdout, "records not yet written saved to %s\n", cfg.rest)
	}
	if rep.Pending > 0 || rep.Unknown > 0 || rep.Confirmed+rep.Failed+rep.Pending+rep.Unknown != len(records) {
		return 1, nil
	}
	return 0, nil
}

func target(cfg config, baseURL string) string {
	if cfg.simulated {
		return "a simulated Zoho CRM at " + baseURL
	}
	return baseURL
}

func unit(cfg config) string {
	if cfg.api == "v1" {
		return "requests"
	}
	return "credits"
}

// readCSV reads a header of Zoho field API names and one record a row; empty
// cells are left out of the record.
func readCSV(path string) ([]string, []map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	header, err := csvheader.Read(r)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: header: %w", path, err)
	}
	var records []map[string]string
	for {
		row, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		rec := make(map[string]string, len(header))
		for i, v := range row {
			if v != "" {
				rec[header[i]] = v
			}
		}
		records = append(records, rec)
	}
	if len(records) == 0 {
		return nil, nil, fmt.Errorf("%s: no records after the header", path)
	}
	return header, records, nil
}

func progressPrinter(w io.Writer, cfg config, spent func() int) func(zohoquota.Progress) {
	var last time.Time
	lastDone := -1
	return func(p zohoquota.Progress) {
		now := time.Now()
		final := p.Done == p.Total && p.Done != lastDone
		if !final && p.WaitingUntil.IsZero() && now.Sub(last) < cfg.progress {
			return
		}
		last, lastDone = now, p.Done
		rate := 0.0
		if s := p.Elapsed.Seconds(); s > 0 {
			rate = float64(p.Done) / s
		}
		line := fmt.Sprintf("%6d / %d records  %4d requests answered  %5d %s admitted  %7.0f records/s",
			p.Done, p.Total, p.Requests, spent(), unit(cfg), rate)
		if !p.WaitingUntil.IsZero() {
			line += "  quota spent, frees up at " + p.WaitingUntil.In(zohoquota.Pacific()).Format("2006-01-02 15:04 MST")
		}
		fmt.Fprintln(w, line)
	}
}

func printReport(w io.Writer, cfg config, rep *zohoquota.Report, spent int, u zohoquota.Usage, took time.Duration, runErr error) {
	fmt.Fprintf(w, "\nrecords:  %d total, %d written, %d rejected by Zoho, %d not yet written, %d in doubt\n",
		rep.Total, rep.Confirmed, rep.Failed, rep.Pending, rep.Unknown)
	if rep.Failed > 0 {
		codes := rep.FailedByCode()
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range codes {
				if !yield(k) {
					return
				}
			}
		})
		fmt.Fprintln(w, "rejected: (fix these rows and import them again)")
		for _, code := range keys {
			fmt.Fprintf(w, "  %-22s %4d  rows %s\n", code, codes[code], rows(rep, zohoquota.Failed, code))
		}
	}
	if rep.Pending > 0 {
		fmt.Fprintf(w, "not yet written: rows %s\n", rows(rep, zohoquota.Pending, ""))
	}
	if rep.Unknown > 0 {
		fmt.Fprintf(w, "in doubt (check in Zoho before resending): rows %s\n", rows(rep, zohoquota.Unknown, ""))
	}
	if cfg.api == "v1" {
		fmt.Fprintf(w, "spent:    %d requests in %v\n", rep.Requests, took.Round(time.Millisecond))
	} else {
		fmt.Fprintf(w, "spent:    %d requests, %d credits in %v\n", rep.Requests, spent, took.Round(time.Millisecond))
	}
	fmt.Fprintf(w, "quota:    %d of %d %s used, %d remain\n", u.Used, u.Limit, unit(cfg), u.Remaining)
	if !u.ResetAt.IsZero() {
		fmt.Fprintf(w, "frees up: %s (Pacific)\n", u.ResetAt.In(zohoquota.Pacific()).Format("Mon 2 Jan 2006 15:04 MST"))
	}
	if runErr != nil {
		fmt.Fprintf(w, "stopped:  %v\n", runErr)
	}
}

// rows lists the data rows (1 = the first row after the header) of the records in
// state st (and with Zoho code, if given) as compact ranges: "3, 7-9, 12".
func rows(rep *zohoquota.Report, st zohoquota.RecordState, code string) string {
	var b strings.Builder
	start := -1
	flush := func(end int) {
		if start < 0 {
			return
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(start + 1))
		if end > start {
			b.WriteString("-" + strconv.Itoa(end+1))
		}
		start = -1
	}
	for i, o := range rep.Outcomes {
		match := o.State == st && (code == "" || o.Result.Code == code)
		switch {
		case match && start < 0:
			start = i
		case !match && start >= 0:
			flush(i - 1)
		}
	}
	flush(len(rep.Outcomes) - 1)
	return b.String()
}

// writeRest saves the records not yet written (pending or in doubt) as a CSV with
// the same header, to import later.
func writeRest(path string, header []string, records []map[string]string, rep *zohoquota.Report) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write(header)
	for i, o := range rep.Outcomes {
		if o.State != zohoquota.Pending && o.State != zohoquota.Unknown {
			continue
		}
		row := make([]string, len(header))
		for j, h := range header {
			row[j] = records[i][h]
		}
		_ = w.Write(row)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
