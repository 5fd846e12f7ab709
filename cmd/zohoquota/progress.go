package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/zohoquota/zohoquota"
	"golang.org/x/term"
)

// progressPrinter shows a job's progress: a bar redrawn in place on a terminal,
// plain lines at each tenth of the job (and when it waits for quota) otherwise.
type progressPrinter struct {
	w        io.Writer
	terminal bool
	total    int
	tenth    int // last tenth printed, for plain lines
	waiting  time.Time
}

func newProgressPrinter(w io.Writer, total int) *progressPrinter {
	p := &progressPrinter{w: w, total: total, tenth: -1}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.terminal = true
	}
	return p
}

func (p *progressPrinter) update(pr zohoquota.Progress) {
	pct := 100
	if pr.Total > 0 {
		pct = pr.Done * 100 / pr.Total
	}
	waitMsg := ""
	if !pr.WaitingUntil.IsZero() {
		waitMsg = "waiting for quota until " + pr.WaitingUntil.In(zohoquota.Pacific()).Format(pacificLayout)
	}
	if p.terminal {
		const width = 30
		filled := width * pct / 100
		bar := strings.Repeat("#", filled) + strings.Repeat("-", width-filled)
		line := fmt.Sprintf("[%s] %3d%% %s/%s records", bar, pct, num(pr.Done), num(pr.Total))
		if waitMsg != "" {
			line += "  " + waitMsg
		} else if pr.ETA > 0 {
			line += "  ETA " + pr.ETA.Round(time.Second).String()
		}
		fmt.Fprintf(p.w, "\r%-100s", line)
		if pr.Done == pr.Total {
			fmt.Fprintln(p.w)
		}
		return
	}
	if waitMsg != "" {
		if !pr.WaitingUntil.Equal(p.waiting) {
			p.waiting = pr.WaitingUntil
			fmt.Fprintf(p.w, "%s/%s records, %s\n", num(pr.Done), num(pr.Total), waitMsg)
		}
		return
	}
	if t := pct / 10; t > p.tenth {
		p.tenth = t
		fmt.Fprintf(p.w, "%3d%% %s/%s records: %s confirmed, %s failed, %s unknown; %s requests\n",
			pct, num(pr.Done), num(pr.Total), num(pr.Confirmed), num(pr.Failed), num(pr.Unknown), num(pr.Requests))
	}
}
