package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// Geometry of a curve's plot: one small panel per metric, side by side,
// x on a logarithmic axis (the points go by factors of 4 to 10).
const (
	cPanelW = 220
	cPanelH = 150
	cGap    = 70
	cLeft   = 50
	cTop    = 50
)

// curveSVG draws each metric of c against c's x, with the fitted growth
// dashed, as a self-contained SVG.
func curveSVG(c curve) []byte {
	width := cLeft + len(metrics)*(cPanelW+cGap)
	height := cTop + cPanelH + 50
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", width, height, width, height)
	b.WriteString(`<rect width="100%" height="100%" fill="white"/>` + "\n")
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="14" font-weight="bold">zedr-run by number of %s</text>`+"\n", cLeft, html.EscapeString(c.Name))
	fmt.Fprintf(&b, `<text x="%d" y="34" fill="#555">%s; blue: measured, dashed: fitted growth</text>`+"\n", cLeft, html.EscapeString(strings.ReplaceAll(c.Setup, "`", "")))
	fits := c.fits()
	for i, m := range metrics {
		drawCurvePanel(&b, c, m, fits[i], cLeft+i*(cPanelW+cGap), cTop)
	}
	b.WriteString("</svg>\n")
	return []byte(b.String())
}

func drawCurvePanel(b *strings.Builder, c curve, m metric, f fit, left, top int) {
	if len(c.Points) == 0 {
		return
	}
	lo, hi := float64(c.Points[0].X), float64(c.Points[0].X)
	ymax := 0.0
	for _, p := range c.Points {
		lo, hi = min(lo, float64(p.X)), max(hi, float64(p.X))
		ymax = max(ymax, m.Get(p))
	}
	if hi <= lo {
		hi = lo * 10
	}
	ymax = niceCeil(ymax * 1.15)
	xOf := func(x float64) float64 { return float64(cPanelW) * math.Log(x/lo) / math.Log(hi/lo) }
	yOf := func(y float64) float64 { return float64(cPanelH) * (1 - min(max(y/ymax, 0), 1)) }
	fmt.Fprintf(b, `<g transform="translate(%d,%d)">`+"\n", left, top)
	fmt.Fprintf(b, `<text x="0" y="-6" font-weight="bold">%s (%s)</text>`+"\n", html.EscapeString(m.Name), m.Unit)
	fmt.Fprintf(b, `<rect width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", cPanelW, cPanelH)
	for i := 0; i <= 4; i++ {
		y := ymax * float64(i) / 4
		fmt.Fprintf(b, `<line x1="0" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/><text x="-4" y="%.1f" text-anchor="end">%.3g</text>`+"\n", cPanelW, yOf(y), yOf(y), yOf(y)+4, y)
	}
	var pts []string
	for _, p := range c.Points {
		x, y := xOf(float64(p.X)), yOf(m.Get(p))
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
		fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="#1f5fbf"/><text x="%.1f" y="%d" text-anchor="middle" fill="#555">%d</text>`+"\n", x, y, x, cPanelH+14, p.X)
	}
	fmt.Fprintf(b, `<polyline fill="none" stroke="#1f5fbf" stroke-width="1.2" points="%s"/>`+"\n", strings.Join(pts, " "))
	var fitted []string
	for i := 0; i <= 40; i++ {
		x := lo * math.Pow(hi/lo, float64(i)/40)
		y := f.Mean
		switch f.Model {
		case "linear":
			y = f.A + f.B*x
		case "log":
			y = f.A + f.B*math.Log(x)
		}
		fitted = append(fitted, fmt.Sprintf("%.1f,%.1f", xOf(x), yOf(y)))
	}
	fmt.Fprintf(b, `<polyline fill="none" stroke="#e67e00" stroke-width="1" stroke-dasharray="4 3" points="%s"/>`+"\n", strings.Join(fitted, " "))
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle" fill="#333">%ss (log scale): %s</text>`+"\n", cPanelW/2, cPanelH+30, c.Per, f.Model)
	b.WriteString("</g>\n")
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}
