package server

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/metrics"
)

// Charts of the metrics page are SVG drawn here and written by html/template (which escapes
// every label: workflow and test names come from pushes). Nothing runs in the browser. The
// viewBox is narrow enough that labels stay readable on a 400 px screen; wider screens scale
// the drawing up.

const (
	uiChartW      = 400.0
	uiChartH      = 180.0
	uiChartLeft   = 44.0 // room for the y labels
	uiChartRight  = 8.0
	uiChartTop    = 10.0
	uiChartBottom = 30.0 // room for the x labels
)

// uiChart is one chart, ready for the template.
type uiChart struct {
	ID      string // the element's id, for links and tests
	Title   string
	Caption string // what is drawn, for screen readers and the page
	W, H    float64
	Bars    []uiBar
	Lines   []uiLine
	Grid    []uiGridLine
	XLabels []uiLabel
	Legend  []uiLegend
	Empty   string // shown instead of the drawing when there is nothing to draw
	Base    float64

	scaleTop float64
}

type uiBar struct {
	X, Y, W, H float64
	Class      string
	Title      string // the value, shown on hover
}

type uiLine struct {
	Points string
	Class  string
	Dots   []uiDot
}

type uiDot struct {
	X, Y  float64
	Title string
}

type uiGridLine struct {
	Y     float64
	Label string
}

type uiLabel struct {
	X, Y float64
	Text string
}

type uiLegend struct {
	Class, Text string
}

// uiSeries is one series of values over the chart's x labels; a nil value is a gap.
type uiSeries struct {
	Name  string
	Class string
	Vals  []*float64
}

// uiScale is what a chart's values are, which decides its grid steps and labels.
type uiScale int

const (
	uiCount   uiScale = iota // whole numbers
	uiShare                  // 0 to 1, shown as percentages
	uiSeconds                // durations in seconds
)

func (s uiScale) format(v float64) string {
	switch s {
	case uiShare:
		return fmt.Sprintf("%g%%", math.Round(v*1000)/10)
	case uiSeconds:
		return metrics.Human(time.Duration(v * float64(time.Second)))
	}
	return fmt.Sprintf("%g", v)
}

// step is a round grid step at least v.
func (s uiScale) step(v float64) float64 {
	if s == uiSeconds {
		for _, d := range []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 432000, 864000} {
			if d >= v {
				return d
			}
		}
	}
	st := uiNiceCeil(v)
	if s == uiCount && st < 1 {
		st = 1
	}
	return st
}

// uiBarChart draws grouped bars: one group per x label, one bar per series.
func uiBarChart(id, title, caption string, xs []string, series []uiSeries, scale uiScale) *uiChart {
	c := uiNewChart(id, title, caption, xs, series, scale)
	format := scale.format
	if c.Empty != "" {
		return c
	}
	plotW := uiChartW - uiChartLeft - uiChartRight
	group := plotW / float64(len(xs))
	barW := math.Max(1, group*0.8/float64(len(series)))
	for si, s := range series {
		for i, v := range s.Vals {
			if v == nil {
				continue
			}
			y := c.y(*v)
			h := c.Base - y
			if *v > 0 && h < 1 {
				y, h = c.Base-1, 1 // a small value stays visible
			}
			c.Bars = append(c.Bars, uiBar{X: round1(uiChartLeft + float64(i)*group + group*0.1 + float64(si)*barW), Y: round1(y),
				W: round1(barW), H: round1(h), Class: s.Class, Title: fmt.Sprintf("%s %s: %s", xs[i], s.Name, format(*v))})
		}
	}
	return c
}

// uiLineChart draws one line per series over the x labels.
func uiLineChart(id, title, caption string, xs []string, series []uiSeries, scale uiScale) *uiChart {
	c := uiNewChart(id, title, caption, xs, series, scale)
	format := scale.format
	if c.Empty != "" {
		return c
	}
	plotW := uiChartW - uiChartLeft - uiChartRight
	step := plotW / float64(len(xs))
	for _, s := range series {
		l := uiLine{Class: s.Class}
		var pts []string
		for i, v := range s.Vals {
			if v == nil {
				continue
			}
			x, y := round1(uiChartLeft+step*(float64(i)+0.5)), round1(c.y(*v))
			pts = append(pts, fmt.Sprintf("%g,%g", x, y))
			l.Dots = append(l.Dots, uiDot{X: x, Y: y, Title: fmt.Sprintf("%s %s: %s", xs[i], s.Name, format(*v))})
		}
		l.Points = strings.Join(pts, " ")
		c.Lines = append(c.Lines, l)
	}
	return c
}

// uiNewChart sets up axes: a y scale from 0 in three round steps (0–100% in two for a share),
// and at most six x labels, so that they do not run into each other on a narrow screen.
func uiNewChart(id, title, caption string, xs []string, series []uiSeries, scale uiScale) *uiChart {
	c := &uiChart{ID: id, Title: title, Caption: caption, W: uiChartW, H: uiChartH, Base: uiChartH - uiChartBottom}
	top := 0.0
	for _, s := range series {
		for _, v := range s.Vals {
			if v != nil && *v > top {
				top = *v
			}
		}
		c.Legend = append(c.Legend, uiLegend{Class: s.Class, Text: s.Name})
	}
	if len(xs) == 0 || top <= 0 {
		c.Empty = "Nothing in the window yet."
		return c
	}
	steps := 3
	if scale == uiShare {
		top, steps = 1, 2
	} else {
		top = 3 * scale.step(top/3)
	}
	for i := 0; i <= steps; i++ {
		v := top * float64(i) / float64(steps)
		c.Grid = append(c.Grid, uiGridLine{Y: round1(c.yOf(v, top)), Label: scale.format(v)})
	}
	c.Base = round1(c.yOf(0, top))
	plotW := uiChartW - uiChartLeft - uiChartRight
	every := int(math.Ceil(float64(len(xs)) / 6))
	for i, x := range xs {
		if i%every == 0 {
			c.XLabels = append(c.XLabels, uiLabel{X: round1(uiChartLeft + plotW/float64(len(xs))*(float64(i)+0.5)), Y: uiChartH - 12, Text: x})
		}
	}
	c.scaleTop = top
	return c
}

func (c *uiChart) y(v float64) float64 { return c.yOf(v, c.scaleTop) }

func (c *uiChart) yOf(v, top float64) float64 {
	plotH := uiChartH - uiChartTop - uiChartBottom
	return uiChartTop + plotH*(1-v/top)
}

// uiNiceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten.
func uiNiceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

func uiF(v float64) *float64 { return &v }
