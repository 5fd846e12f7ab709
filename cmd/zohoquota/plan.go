package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/zohoquota/zohoquota"
)

type planWindowOutput struct {
	Date     string    `json:"date"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Records  int       `json:"records"`
	Requests int       `json:"requests"`
	Units    int       `json:"units"`
}

type planOutput struct {
	Op               zohoquota.Op       `json:"op"`
	Records          int                `json:"records"`
	Edition          zohoquota.Edition  `json:"edition"`
	Licenses         int                `json:"licenses"`
	API              string             `json:"api"`
	Limit            int                `json:"limit"`
	Unit             string             `json:"unit"`
	Window           string             `json:"window"`
	Used             int                `json:"used"`
	Requests         int                `json:"requests"`
	Credits          int                `json:"credits"`
	Units            int                `json:"units"`
	RecordsPerWindow int                `json:"records_per_window"`
	Start            time.Time          `json:"start"`
	Finish           time.Time          `json:"finish"`
	Windows          []planWindowOutput `json:"windows"`
}

func runPlan(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("plan", "-op write|read -records N -edition E -licenses N [-api v1|v8] [-used N] [-start RFC3339] [-svg out.svg] [-json]", stderr)
	var of orgFlags
	of.register(fs)
	opName := fs.String("op", "write", "operation: write (100 records a request) or read (200)")
	records := fs.Int("records", 0, "records in the job (required)")
	used := fs.Int("used", 0, "units of the quota already spent in the current window")
	startFlag := fs.String("start", "", "when the job starts, RFC 3339 (default now)")
	svgPath := fs.String("svg", "", "also draw the plan as an SVG chart into this `file`")
	asJSON := fs.Bool("json", false, "print JSON")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	o, err := of.resolve()
	if err != nil {
		return fail(fs, err)
	}
	op, err := zohoquota.ParseOp(*opName)
	if err != nil {
		return fail(fs, usagef("-op: %v", err))
	}
	if !isSet(fs, "records") {
		return fail(fs, usagef("-records is required"))
	}
	if *records < 0 {
		return fail(fs, usagef("-records %d: need 0 or more", *records))
	}
	if *used < 0 {
		return fail(fs, usagef("-used %d: need 0 or more", *used))
	}
	start := time.Now()
	if *startFlag != "" {
		if start, err = time.Parse(time.RFC3339, *startFlag); err != nil {
			return fail(fs, usagef("-start: %v", err))
		}
		if y := start.UTC().Year(); y < zohoquota.MinPlanYear || y > zohoquota.MaxPlanYear {
			return fail(fs, usagef("-start %s: need a time in the years %d to %d", *startFlag, zohoquota.MinPlanYear, zohoquota.MaxPlanYear))
		}
	}
	p, err := zohoquota.NewPlan(zohoquota.PlanInput{Op: op, Records: *records, Quota: o.quota, Start: start, Used: *used})
	if errors.Is(err, zohoquota.ErrInvalidPlan) {
		// Every input of the plan is a flag: a plan it cannot make is a flag error.
		return fail(fs, usagef("%v", err))
	}
	if err != nil {
		return fail(fs, err)
	}
	out := newPlanOutput(o, p, *used)
	if *svgPath != "" {
		if err := writeSVGFile(*svgPath, out); err != nil {
			return fail(fs, err)
		}
	}
	if *asJSON {
		return writeJSON(stdout, stderr, out)
	}
	printPlan(stdout, o, out)
	return exitOK
}

func newPlanOutput(o org, p zohoquota.Plan, used int) planOutput {
	pac := zohoquota.Pacific()
	out := planOutput{
		Op: p.Op, Records: p.Records, Edition: o.edition, Licenses: o.licenses, API: o.api,
		Limit: p.Limit, Unit: o.unit(), Window: o.quota.Window.String(), Used: used,
		Requests: p.Requests, Credits: p.Credits, Units: p.Units, RecordsPerWindow: p.RecordsPerWindow,
		Start: p.Start.In(pac), Finish: p.Finish.In(pac), Windows: []planWindowOutput{},
	}
	for _, w := range p.Windows {
		out.Windows = append(out.Windows, planWindowOutput{
			Date: w.Start.In(pac).Format(time.DateOnly), Start: w.Start.In(pac), End: w.End.In(pac),
			Records: w.Records, Requests: w.Requests, Units: w.Units,
		})
	}
	return out
}

const pacificLayout = "Mon Jan 2 15:04 MST"

func printPlan(w io.Writer, o org, out planOutput) {
	per := "a day, reset 00:00 PST"
	if !o.v1 {
		per = "per rolling 24 hours"
	}
	fmt.Fprintf(w, "Job:       %v %s records, Zoho CRM %v with %s, API %s\n", out.Op, num(out.Records), out.Edition, count(out.Licenses, "license"), out.API)
	fmt.Fprintf(w, "Quota:     %s %s %s; %s used at the start\n", num(out.Limit), out.Unit, per, num(out.Used))
	if o.v1 {
		fmt.Fprintf(w, "Cost:      %s requests (%s credits under v2+)\n", num(out.Requests), num(out.Credits))
	} else {
		fmt.Fprintf(w, "Cost:      %s requests, %s credits\n", num(out.Requests), num(out.Units))
	}
	fmt.Fprintf(w, "Capacity:  %s records a window at most\n", num(out.RecordsPerWindow))
	fmt.Fprintf(w, "Start:     %s\n", out.Start.Format(pacificLayout+" 2006"))
	fmt.Fprintf(w, "Finish:    %s (the earliest the last request can go out)\n", out.Finish.Format(pacificLayout+" 2006"))
	fmt.Fprintf(w, "Windows:   %d, times in Pacific time\n\n", len(out.Windows))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	if o.v1 {
		fmt.Fprintf(tw, "Date\tFrom\tTo\tRecords\tRequests\t\n")
	} else {
		fmt.Fprintf(tw, "Date\tFrom\tTo\tRecords\tRequests\tCredits\t\n")
	}
	for _, win := range out.Windows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t", win.Date, win.Start.Format(pacificLayout), win.End.Format(pacificLayout),
			num(win.Records), num(win.Requests))
		if !o.v1 {
			fmt.Fprintf(tw, "%s\t", num(win.Units))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

func writeSVGFile(path string, out planOutput) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("-svg: %w", err)
	}
	if err := writeSVG(f, out); err != nil {
		f.Close()
		return fmt.Errorf("-svg: %w", err)
	}
	return f.Close()
}
