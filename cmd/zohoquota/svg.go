package main

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
)

// The chart's geometry, in SVG user units.
const (
	svgWidth, svgHeight = 760, 380
	marginLeft          = 90
	marginRight         = 24
	marginTop           = 48
	marginBottom        = 78
)

// writeSVG draws the plan: a bar of records per window, the quota's capacity as a
// dashed line, a y axis of records with round ticks, and the windows' dates below.
func writeSVG(w io.Writer, out planOutput) error {
	bw := bufio.NewWriter(w)
	plotW := float64(svgWidth - marginLeft - marginRight)
	plotH := float64(svgHeight - marginTop - marginBottom)
	x0, y0 := float64(marginLeft), float64(svgHeight-marginBottom) // the origin

	top := out.RecordsPerWindow
	for _, win := range out.Windows {
		top = max(top, win.Records)
	}
	step := niceStep(float64(max(top, 1)) / 5)
	yMax := math.Ceil(float64(max(top, 1))*1.08/step) * step
	y := func(v float64) float64 { return y0 - v/yMax*plotH }

	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		svgWidth, svgHeight, svgWidth, svgHeight)
	fmt.Fprintf(bw, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	title := fmt.Sprintf("%v %s records: Zoho CRM %v, %s, API %s", out.Op, num(out.Records), out.Edition, count(out.Licenses, "license"), out.API)
	fmt.Fprintf(bw, `<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>`+"\n", marginLeft, esc(title))
	sub := fmt.Sprintf("%s, finish %s (Pacific)", count(len(out.Windows), "window"), out.Finish.Format(pacificLayout+" 2006"))
	fmt.Fprintf(bw, `<text x="%d" y="40" fill="#555">%s</text>`+"\n", marginLeft, esc(sub))

	// Y axis, ticks and grid.
	for v := 0.0; v <= yMax+step/2; v += step {
		fmt.Fprintf(bw, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e5e5e5"/>`+"\n", x0, y(v), x0+plotW, y(v))
		fmt.Fprintf(bw, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-6, y(v)+4, num(int(v)))
	}
	fmt.Fprintf(bw, `<text transform="translate(16 %.1f) rotate(-90)" text-anchor="middle">records per window</text>`+"\n", y0-plotH/2)

	// Bars and dates.
	n := max(len(out.Windows), 1)
	slot := plotW / float64(n)
	barW := slot * 0.7
	every := max(1, n/16) // label at most ~16 dates
	for i, win := range out.Windows {
		bx := x0 + float64(i)*slot + (slot-barW)/2
		by := y(float64(win.Records))
		fmt.Fprintf(bw, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#4a7bd0"><title>%s: %s records, %s requests</title></rect>`+"\n",
			bx, by, barW, y0-by, esc(win.Date), num(win.Records), num(win.Requests))
		if i%every == 0 {
			cx := bx + barW/2
			fmt.Fprintf(bw, `<text transform="translate(%.1f %.1f) rotate(-40)" text-anchor="end">%s</text>`+"\n", cx, y0+14, esc(win.Date))
		}
	}

	// The quota line: what a whole window admits.
	qy := y(float64(out.RecordsPerWindow))
	fmt.Fprintf(bw, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#d03a3a" stroke-width="2" stroke-dasharray="6 4"/>`+"\n", x0, qy, x0+plotW, qy)
	fmt.Fprintf(bw, `<text x="%.1f" y="%.1f" text-anchor="end" fill="#d03a3a">quota: %s records a window</text>`+"\n", x0+plotW, qy-6, num(out.RecordsPerWindow))

	// Axes last, over the bars.
	fmt.Fprintf(bw, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", x0, y0, x0+plotW, y0)
	fmt.Fprintf(bw, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", x0, y0, x0, y0-plotH)
	fmt.Fprintf(bw, `<text x="%.1f" y="%d" text-anchor="middle">window start (Pacific)</text>`+"\n", x0+plotW/2, svgHeight-6)
	fmt.Fprintln(bw, `</svg>`)
	return bw.Flush()
}

// niceStep returns the 1, 2 or 5 × 10^k at or above raw.
func niceStep(raw float64) float64 {
	if raw <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
