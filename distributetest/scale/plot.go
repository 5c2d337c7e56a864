package scale

import (
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Plot geometry: one panel per cost metric.
const (
	panelW   = 320
	panelH   = 230
	marginL  = 52
	marginR  = 14
	marginT  = 34
	marginB  = 40
	panelCol = 3
)

// series styles: Go blue circles, Erlang orange squares.
var styles = map[Kind]struct{ color, marker string }{
	Go:     {"#1f77b4", "circle"},
	Erlang: {"#d9661f", "square"},
}

// WritePlots writes, in dir, scale.svg (a panel for every cost metric,
// each cost against N with a line for Go and one for Erlang, and the
// fitted growth exponent in the legend) and scale-KEY.svg (one panel
// each), with the standard library only.
func WritePlots(dir string, results []Result) error {
	var costs []Metric
	for _, m := range Metrics {
		if m.Cost && hasMetric(results, m.Key) {
			costs = append(costs, m)
		}
	}
	if len(costs) == 0 {
		return nil
	}
	write := func(name string, ms []Metric) error {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		err = WriteSVG(f, results, ms)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	if err := write("scale.svg", costs); err != nil {
		return err
	}
	for _, m := range costs {
		if err := write("scale-"+m.Key+".svg", []Metric{m}); err != nil {
			return err
		}
	}
	return nil
}

func hasMetric(results []Result, key string) bool {
	for i := range results {
		if _, ok := results[i].Metrics[key]; ok {
			return true
		}
	}
	return false
}

// WriteSVG draws one panel per metric, panelCol to a row.
func WriteSVG(w io.Writer, results []Result, ms []Metric) error {
	cols := min(len(ms), panelCol)
	rows := (len(ms) + cols - 1) / cols
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n",
		cols*panelW, rows*panelH, cols*panelW, rows*panelH)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	for i, m := range ms {
		panel(&b, results, m, (i%cols)*panelW, (i/cols)*panelH)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// panel draws metric m against N at (x0, y0): linear axes from zero,
// ticks at 1, 2 or 5 times a power of ten.
func panel(b *strings.Builder, results []Result, m Metric, x0, y0 int) {
	ns := sizes(results)
	maxN, maxY := 0.0, 0.0
	for _, r := range results {
		if v, ok := r.Metrics[m.Key]; ok {
			maxN = math.Max(maxN, float64(r.Nodes))
			maxY = math.Max(maxY, v)
		}
	}
	if maxY <= 0 {
		maxY = 1
	}
	xStep := niceStep(maxN / 5)
	yStep := niceStep(maxY / 4)
	xMax := math.Ceil(maxN/xStep) * xStep
	yMax := math.Ceil(maxY*1.05/yStep) * yStep
	pw := float64(panelW - marginL - marginR)
	ph := float64(panelH - marginT - marginB)
	px := func(n float64) float64 { return float64(x0+marginL) + n/xMax*pw }
	py := func(v float64) float64 { return float64(y0+marginT) + ph - v/yMax*ph }

	title := m.Label
	if m.Unit != "" {
		title += " (" + m.Unit + ")"
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" font-weight="bold">%s</text>`+"\n", x0+8, y0+16, html.EscapeString(title))
	// Axes and grid.
	fmt.Fprintf(b, `<g stroke="#ccc" stroke-width="1">`+"\n")
	for i := 0.0; i*yStep <= yMax+yStep/2; i++ {
		v := i * yStep
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`+"\n", px(0), py(v), px(xMax), py(v))
	}
	b.WriteString("</g>\n")
	fmt.Fprintf(b, `<g stroke="#333" stroke-width="1"><line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/><line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/></g>`+"\n",
		px(0), py(0), px(xMax), py(0), px(0), py(0), px(0), py(yMax))
	for i := 0.0; i*yStep <= yMax+yStep/2; i++ {
		v := i * yStep
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", px(0)-4, py(v)+4, tick(v, yStep))
	}
	for i := 0.0; i*xStep <= xMax+xStep/2; i++ {
		n := i * xStep
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", px(n), py(0)+14, tick(n, xStep))
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">nodes (N)</text>`+"\n", px(xMax/2), py(0)+30)

	legendY := y0 + marginT + 4
	for _, k := range []Kind{Go, Erlang} {
		st := styles[k]
		var pts [][2]float64
		for _, n := range ns {
			if v, ok := value(find(results, k, n), m.Key); ok {
				pts = append(pts, [2]float64{px(float64(n)), py(v)})
			}
		}
		if len(pts) == 0 {
			continue
		}
		coords := make([]string, len(pts))
		for i, p := range pts {
			coords[i] = fmt.Sprintf("%.1f,%.1f", p[0], p[1])
		}
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", st.color, strings.Join(coords, " "))
		for _, p := range pts {
			marker(b, st.marker, st.color, p[0], p[1])
		}
		label := string(k)
		if g, n := Growth(results, k, m.Key); n >= 3 {
			label += fmt.Sprintf(" ~N^%.2f", g)
		}
		lx := float64(x0 + marginL + 8)
		marker(b, st.marker, st.color, lx, float64(legendY))
		fmt.Fprintf(b, `<text x="%.1f" y="%d">%s</text>`+"\n", lx+8, legendY+4, html.EscapeString(label))
		legendY += 14
	}
}

func marker(b *strings.Builder, shape, color string, x, y float64) {
	if shape == "square" {
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="7" height="7" fill="%s"/>`+"\n", x-3.5, y-3.5, color)
		return
	}
	fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>`+"\n", x, y, color)
}

// tick prints an axis value v, a multiple of step, with the decimals
// step needs.
func tick(v, step float64) string {
	decimals := max(0, int(-math.Floor(math.Log10(step))))
	return strconv.FormatFloat(v, 'f', decimals, 64)
}

// niceStep rounds d up to 1, 2 or 5 times a power of ten.
func niceStep(d float64) float64 {
	if d <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(d)))
	for _, f := range []float64{1, 2, 5, 10} {
		if d <= f*p {
			return f * p
		}
	}
	return 10 * p
}
