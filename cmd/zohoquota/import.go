package main

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"time"

	"github.com/zohoquota/zohoquota"
	"github.com/zohoquota/zohoquota/internal/csvheader"
)

type importFailure struct {
	Row     int    `json:"row"` // 1-based data row (the header is row 0)
	State   string `json:"state"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

type importOutput struct {
	File         string            `json:"file"`
	Module       string            `json:"module"`
	Target       string            `json:"target"`
	Job          string            `json:"job,omitempty"`
	Total        int               `json:"total"`
	Confirmed    int               `json:"confirmed"`
	Failed       int               `json:"failed"`
	Unknown      int               `json:"unknown"`
	Pending      int               `json:"pending"`
	Resumed      int               `json:"resumed"`
	Requests     int               `json:"requests"`
	Units        int               `json:"units"`
	Unit         string            `json:"unit"`
	FailedByCode map[string]int    `json:"failed_by_code"`
	Problems     []importFailure   `json:"problems"` // failed and unknown rows
	Stopped      string            `json:"stopped,omitempty"`
	ResumeAt     *time.Time        `json:"resume_at,omitempty"`
	Checkpoint   string            `json:"checkpoint,omitempty"`
	Edition      zohoquota.Edition `json:"edition"`
	Licenses     int               `json:"licenses"`
}

func runImport(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("import", "-file leads.csv -module Leads [-url URL] [-checkpoint job.json] [-json]", stderr)
	of := orgFlags{edition: "standard", licenses: 10}
	of.register(fs)
	file := fs.String("file", "", "CSV `file` to import: a header row of Zoho field API names, then one record a row (required)")
	module := fs.String("module", "", "Zoho CRM `module` to write to, such as Leads (required)")
	baseURL := fs.String("url", "", "Zoho API domain, such as https://www.zohoapis.com, with $ZOHO_ACCESS_TOKEN (default: the simulated CRM)")
	checkpointPath := fs.String("checkpoint", "", "checkpoint `file`: resume from it if it exists, keep progress in it")
	upsert := fs.Bool("upsert", false, "upsert instead of insert (then a batch may safely be sent again)")
	concurrency := fs.Int("concurrency", 1, "batches in flight at once")
	maxWait := fs.Duration("max-wait", time.Minute, "longest wait for quota before stopping with a checkpoint (0: wait as long as it takes)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	switch {
	case *file == "":
		return fail(fs, usagef("-file is required"))
	case *module == "":
		return fail(fs, usagef("-module is required"))
	case *concurrency < 1:
		return fail(fs, usagef("-concurrency %d: need at least 1", *concurrency))
	case *maxWait < 0:
		return fail(fs, usagef("-max-wait %v: need 0 or more", *maxWait))
	}
	o, err := of.resolve()
	if err != nil {
		return fail(fs, err)
	}
	if o.v1 {
		return fail(fs, usagef("-api v1: import writes through the v2+ API only"))
	}
	records, identity, err := readCSV(*file)
	if err != nil {
		return fail(fs, err)
	}

	target, token := *baseURL, os.Getenv("ZOHO_ACCESS_TOKEN")
	client := &http.Client{}
	defer client.CloseIdleConnections()
	if target == "" {
		sim, err := startSimulated(o)
		if err != nil {
			return fail(fs, err)
		}
		defer sim.Close()
		target, client, token = sim.URL, sim.Client(), simToken
		fmt.Fprintf(stderr, "importing into a simulated Zoho CRM at %s (%s %s)\n", target, num(o.quota.Limit), o.unit())
	}
	limiter, err := zohoquota.NewLimiter(o.quota)
	if err != nil {
		return fail(fs, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	// The first Ctrl-C stops the job gracefully (batches on the wire finish); a
	// second one, with the default handler back, ends the process.
	context.AfterFunc(ctx, stop)
	job := &zohoquota.Job[map[string]any]{
		Op: zohoquota.Write, Module: *module, Records: records, Limiter: limiter,
		Send: zohoquota.V8Write[map[string]any](zohoquota.V8Target{
			Client: client, BaseURL: target, Module: *module, Upsert: *upsert, Token: token,
		}),
		Idempotent: *upsert, Concurrency: *concurrency, MaxWait: *maxWait,
		Checkpoint: *checkpointPath, Identity: identity,
		Progress: newProgressPrinter(stderr, len(records)).update,
	}
	rep, runErr := job.Run(ctx)
	if rep == nil {
		return fail(fs, runErr)
	}
	out := newImportOutput(*file, target, o, rep, runErr)
	if *asJSON {
		if code := writeJSON(stdout, stderr, out); code != exitOK {
			return code
		}
	} else {
		printImport(stdout, out)
	}
	if out.Pending > 0 || out.Unknown > 0 {
		return exitFail
	}
	return exitOK
}

// readCSV reads a CSV file with a header row into one record per row, leaving out
// empty cells. The identity is the file's content hash, so a checkpoint is resumed
// only by the same file.
func readCSV(path string) ([]map[string]any, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(data)
	f, err := os.Open(path)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	r := csv.NewReader(f)
	header, err := csvheader.Read(r)
	if err != nil {
		return nil, "", fmt.Errorf("%s: header row: %w", path, err)
	}
	var records []map[string]any
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", path, err)
		}
		rec := make(map[string]any, len(header))
		for i, v := range row {
			if v != "" {
				rec[header[i]] = v
			}
		}
		records = append(records, rec)
	}
	return records, "sha256:" + hex.EncodeToString(sum[:]), nil
}

func newImportOutput(file, target string, o org, rep *zohoquota.Report, runErr error) importOutput {
	out := importOutput{
		File: file, Module: rep.Module, Target: target, Job: rep.Job, Total: rep.Total,
		Confirmed: rep.Confirmed, Failed: rep.Failed, Unknown: rep.Unknown, Pending: rep.Pending, Resumed: rep.Resumed,
		Requests: rep.Requests, Units: rep.Units, Unit: o.unit(), FailedByCode: rep.FailedByCode(),
		Problems: []importFailure{}, Checkpoint: rep.Checkpoint, Edition: o.edition, Licenses: o.licenses,
	}
	for i, oc := range rep.Outcomes {
		if oc.State == zohoquota.Failed || oc.State == zohoquota.Unknown {
			out.Problems = append(out.Problems, importFailure{Row: i + 1, State: oc.State.String(), Code: oc.Result.Code, Message: oc.Result.Message})
		}
	}
	if runErr != nil {
		out.Stopped = runErr.Error()
	}
	if !rep.ResumeAt.IsZero() {
		t := rep.ResumeAt.In(zohoquota.Pacific())
		out.ResumeAt = &t
	}
	return out
}

const maxProblemsShown = 20

func printImport(w io.Writer, out importOutput) {
	fmt.Fprintf(w, "Imported %s into %s: %s confirmed, %s failed, %s unknown, %s pending of %s records\n",
		out.File, out.Module, num(out.Confirmed), num(out.Failed), num(out.Unknown), num(out.Pending), num(out.Total))
	if out.Resumed > 0 {
		fmt.Fprintf(w, "Resumed:  %s records were done in earlier runs\n", num(out.Resumed))
	}
	fmt.Fprintf(w, "Spent:    %s requests, %s %s in this run\n", num(out.Requests), num(out.Units), out.Unit)
	if len(out.FailedByCode) > 0 {
		codes := make([]string, 0, len(out.FailedByCode))
		for c := range out.FailedByCode {
			codes = append(codes, c)
		}
		sort.Strings(codes)
		fmt.Fprintf(w, "Failed:  ")
		for _, c := range codes {
			fmt.Fprintf(w, " %s %s", c, num(out.FailedByCode[c]))
		}
		fmt.Fprintln(w)
	}
	for i, p := range out.Problems {
		if i == maxProblemsShown {
			fmt.Fprintf(w, "  ... and %d more (use -json for all)\n", len(out.Problems)-maxProblemsShown)
			break
		}
		fmt.Fprintf(w, "  row %d: %s %s: %s\n", p.Row, p.State, p.Code, p.Message)
	}
	if out.Stopped != "" {
		fmt.Fprintf(w, "Stopped:  %s\n", out.Stopped)
	}
	if out.ResumeAt != nil {
		fmt.Fprintf(w, "Resume:   quota frees up %s; run again with the same -checkpoint\n", out.ResumeAt.Format(pacificLayout+" 2006"))
	}
	if out.Unknown > 0 {
		fmt.Fprintf(w, "Check:    %s records may have been written; look them up in Zoho before sending them again\n", num(out.Unknown))
	}
}
