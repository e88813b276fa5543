package bench

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"strings"
)

// A small SVG writer for the report's plots: horizontal bar charts and
// line charts, no external tools.

const (
	colGo     = "#2f6fb0"
	colGoLib  = "#0b3d91"
	colNode   = "#e08a2c"
	colNodeRf = "#b35c00"
	colAxis   = "#444"
	colGrid   = "#ddd"
	svgFont   = `font-family="sans-serif"`
)

type bar struct {
	label string
	value float64
	color string
}

func esc(s string) string { return html.EscapeString(s) }

// niceStep returns a round tick step giving about n ticks up to max.
func niceStep(max float64, n int) float64 {
	if max <= 0 || math.IsNaN(max) || math.IsInf(max, 0) {
		return 1
	}
	raw := max / float64(n)
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func fmtTick(v float64) string {
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) >= 1000 && math.Mod(v, 1000) == 0:
		return fmt.Sprintf("%gk", v/1000)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%g", math.Round(v*100)/100)
	}
}

// barChart draws one horizontal bar per entry, value printed at its end,
// under a title and a smaller subtitle.
func barChart(title, subtitle, unit string, bars []bar) []byte {
	const (
		w, left, right, top, barH, gap = 760, 200, 90, 66, 22, 10
	)
	h := top + len(bars)*(barH+gap) + 40
	mx := 0.0
	for _, b := range bars {
		if !math.IsNaN(b.value) {
			mx = math.Max(mx, b.value)
		}
	}
	step := niceStep(mx, 5)
	axisMax := math.Max(step, math.Ceil(mx/step)*step)
	plotW := float64(w - left - right)
	x := func(v float64) float64 { return float64(left) + v/axisMax*plotW }

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" %s font-size="13">`+"\n", w, h, w, h, svgFont)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="16" font-weight="bold">%s</text>`+"\n", 10, esc(title))
	fmt.Fprintf(&b, `<text x="%d" y="44" fill="%s">%s</text>`+"\n", 10, colAxis, esc(subtitle))
	bottom := top + len(bars)*(barH+gap)
	for v := 0.0; v <= axisMax+step/2; v += step {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>`+"\n", x(v), top-6, x(v), bottom, colGrid)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="%s">%s</text>`+"\n", x(v), bottom+16, colAxis, fmtTick(v))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="%s">%s</text>`+"\n", x(axisMax/2), bottom+34, colAxis, esc(unit))
	for i, br := range bars {
		y := top + i*(barH+gap)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, y+barH/2+5, esc(br.label))
		if math.IsNaN(br.value) {
			fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s">n/a</text>`+"\n", left+4, y+barH/2+5, colAxis)
			continue
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", left, y, x(br.value)-float64(left), barH, br.color)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s</text>`+"\n", x(br.value)+5, y+barH/2+5, esc(fmtValue(br.value)))
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s"/>`+"\n", left, top-6, left, bottom, colAxis)
	b.WriteString("</svg>\n")
	return b.Bytes()
}

func fmtValue(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

type series struct {
	name  string
	color string
	pts   [][2]float64 // x, y; NaN y values are skipped
}

// lineChart draws series over a linear x axis starting at 0.
func lineChart(title, xlabel, ylabel string, ss []series) []byte {
	const (
		w, h, left, right, top, bottom = 760, 420, 70, 250, 50, 60
	)
	mx, my := 0.0, 0.0
	for _, s := range ss {
		for _, p := range s.pts {
			if math.IsNaN(p[1]) {
				continue
			}
			mx, my = math.Max(mx, p[0]), math.Max(my, p[1])
		}
	}
	xs, ys := niceStep(mx, 5), niceStep(my, 5)
	xMax, yMax := math.Max(xs, math.Ceil(mx/xs)*xs), math.Max(ys, math.Ceil(my/ys)*ys)
	pw, ph := float64(w-left-right), float64(h-top-bottom)
	X := func(v float64) float64 { return float64(left) + v/xMax*pw }
	Y := func(v float64) float64 { return float64(top) + ph - v/yMax*ph }

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" %s font-size="13">`+"\n", w, h, w, h, svgFont)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="24" font-size="16" font-weight="bold">%s</text>`+"\n", esc(title))
	for v := 0.0; v <= yMax+ys/2; v += ys {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`+"\n", left, Y(v), w-right, Y(v), colGrid)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" fill="%s">%s</text>`+"\n", left-6, Y(v)+4, colAxis, fmtTick(v))
	}
	for v := 0.0; v <= xMax+xs/2; v += xs {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>`+"\n", X(v), top, X(v), h-bottom, colGrid)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="%s">%s</text>`+"\n", X(v), h-bottom+18, colAxis, fmtTick(v))
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s"/>`+"\n", left, h-bottom, w-right, h-bottom, colAxis)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s"/>`+"\n", left, top, left, h-bottom, colAxis)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="%s">%s</text>`+"\n", X(xMax/2), h-bottom+40, colAxis, esc(xlabel))
	fmt.Fprintf(&b, `<text x="16" y="%.1f" text-anchor="middle" fill="%s" transform="rotate(-90 16 %.1f)">%s</text>`+"\n", Y(yMax/2), colAxis, Y(yMax/2), esc(ylabel))
	for i, s := range ss {
		col := s.color
		var pts bytes.Buffer
		for _, p := range s.pts {
			if math.IsNaN(p[1]) {
				continue
			}
			fmt.Fprintf(&pts, "%.1f,%.1f ", X(p[0]), Y(p[1]))
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>`+"\n", X(p[0]), Y(p[1]), col)
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", bytes.TrimSpace(pts.Bytes()), col)
		ly := top + 10 + i*22
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`+"\n", w-right+14, ly, w-right+38, ly, col)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", w-right+44, ly+4, esc(s.name))
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// peerColor picks a server's colour, the same in every plot: Go blues and
// greens, Node oranges, the library and the reference darkest.
func peerColor(key string, node bool) string {
	switch key {
	case "go-siojwt":
		return colGoLib
	case "go-bare":
		return colGo
	case "go-jwt":
		return "#2c8a7d"
	case refKey:
		return colNodeRf
	case threamKey:
		return "#c0392b"
	}
	if node {
		return colNode
	}
	if strings.HasPrefix(key, "go-siojwt-") {
		return "#5b8fd6"
	}
	return "#666"
}
