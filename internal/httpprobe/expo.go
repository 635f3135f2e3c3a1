package httpprobe

import (
	"math"
	"strconv"
	"strings"
)

// contentType is the Prometheus text exposition format's media type
// (https://prometheus.io/docs/instrumenting/exposition_formats/, version
// 0.0.4), the format the Prometheus Go client's handler served by default.
const contentType = "text/plain; version=0.0.4; charset=utf-8"

// Metric types, as a family's TYPE line spells them.
const (
	typeCounter   = "counter"
	typeGauge     = "gauge"
	typeHistogram = "histogram"
	typeSummary   = "summary"
)

// expo writes metric families in the text exposition format. Each family
// is one call of family followed by its samples, so HELP and TYPE come once
// per family and before its samples, as the format requires.
type expo struct {
	b []byte
}

// family starts a family: its HELP and TYPE lines.
func (e *expo) family(name, typ, help string) {
	e.b = append(e.b, "# HELP "...)
	e.b = append(e.b, name...)
	e.b = append(e.b, ' ')
	e.b = append(e.b, helpEscaper.Replace(help)...)
	e.b = append(e.b, "\n# TYPE "...)
	e.b = append(e.b, name...)
	e.b = append(e.b, ' ')
	e.b = append(e.b, typ...)
	e.b = append(e.b, '\n')
}

// sample writes one sample: name, labels as name, value pairs, and v.
func (e *expo) sample(name string, v float64, labels ...string) {
	e.b = append(e.b, name...)
	if len(labels) > 0 {
		e.b = append(e.b, '{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.b = append(e.b, labels[i]...)
			e.b = append(e.b, `="`...)
			e.b = append(e.b, labelEscaper.Replace(labels[i+1])...)
			e.b = append(e.b, '"')
		}
		e.b = append(e.b, '}')
	}
	e.b = append(e.b, ' ')
	e.b = appendFloat(e.b, v)
	e.b = append(e.b, '\n')
}

// one writes a family of a single sample without labels.
func (e *expo) one(name, typ, help string, v float64) {
	e.family(name, typ, help)
	e.sample(name, v)
}

// The format's escapes: in HELP a backslash and a newline, in a label
// value also a double quote.
var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

// appendFloat writes v as the format (and Go's ParseFloat) reads it:
// shortest round-trip form, and +Inf, -Inf, NaN.
func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsInf(v, +1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// formatFloat is appendFloat as a string, for le and quantile labels.
func formatFloat(v float64) string { return string(appendFloat(nil, v)) }
