package server

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"testing"

	"github.com/chromedp/chromedp"
)

// The metrics page in a real browser on a 400 px wide screen: the figures and charts fit the
// screen, the charts' text stays readable, and a screenshot shows the charts drawn (the bars and
// lines in their colours, inside each chart's box).
func TestUIBrowserMetrics(t *testing.T) {
	e, c := metricsUIEnv(t)
	seedMetricsHistory(t, e, c, "app", "ci")
	ctx := uiBrowser(t, e)
	if err := chromedp.Run(ctx,
		chromedp.EmulateViewport(400, 900),
		chromedp.Navigate(e.http.URL+"/repos/app/metrics"),
		chromedp.WaitVisible(`#chart-deployments svg`, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	overflow := uiEval[[]string](t, ctx, `Array.from(document.querySelectorAll('.figure, .chart, .metrics-filter, h2'))
		.filter(el => el.getBoundingClientRect().right > window.innerWidth + 1)
		.map(el => (el.id || el.className) + ' ends at ' + Math.round(el.getBoundingClientRect().right))`)
	if len(overflow) > 0 {
		t.Errorf("at 400 px, these overflow the screen: %v", overflow)
	}
	if w := uiEval[float64](t, ctx, `document.querySelector('#chart-deployments svg').getBoundingClientRect().width`); w < 280 {
		t.Errorf("the deployments chart is %.0f px wide at 400 px, want at least 280", w)
	}
	if h := uiEval[float64](t, ctx, `Math.min(...Array.from(document.querySelectorAll('#chart-deployments text')).map(t => t.getBoundingClientRect().height))`); h < 8 {
		t.Errorf("chart labels are %.1f px high at 400 px, want at least 8", h)
	}
	if n := uiEval[int](t, ctx, `document.querySelectorAll('.figure').length`); n != 8 {
		t.Errorf("%d figures, want the five DORA keys and three seed figures", n)
	}

	var shot []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&shot, 100)); err != nil {
		t.Fatal(err)
	}
	if path := os.Getenv("SLUICE_UI_METRICS_SCREENSHOT"); path != "" {
		if err := os.WriteFile(path, shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("decoding the screenshot: %v", err)
	}
	// Each chart's box in the screenshot's pixels, and the colour its marks are drawn in.
	for _, chart := range []struct {
		id       string
		r, g, b  uint8
		minPixel int
	}{
		{"chart-deployments", 0x2f, 0x6f, 0xde, 200}, // bars, series 1
		{"chart-lead-time", 0x1f, 0x88, 0x3d, 100},   // a line, series 2
		{"chart-pins", 0xcf, 0x22, 0x2e, 50},         // rollback bars, series 4
		{"chart-pipeline-0", 0x2f, 0x6f, 0xde, 100},  // the p50 line
	} {
		box := uiEval[[]float64](t, ctx, `(() => { const r = document.querySelector('#`+chart.id+` svg').getBoundingClientRect();
			const s = window.devicePixelRatio; return [(r.left + scrollX) * s, (r.top + scrollY) * s, (r.right + scrollX) * s, (r.bottom + scrollY) * s]; })()`)
		in := image.Rect(int(box[0]), int(box[1]), int(box[2]), int(box[3])).Intersect(img.Bounds())
		n := 0
		for y := in.Min.Y; y < in.Max.Y; y++ {
			for x := in.Min.X; x < in.Max.X; x++ {
				r, g, b, _ := img.At(x, y).RGBA()
				if near(r>>8, chart.r) && near(g>>8, chart.g) && near(b>>8, chart.b) {
					n++
				}
			}
		}
		if n < chart.minPixel {
			t.Errorf("the screenshot has %d pixels of the %s marks' colour inside its box %v, want at least %d", n, chart.id, in, chart.minPixel)
		}
	}
}

func near(got uint32, want uint8) bool {
	d := int(got) - int(want)
	return d >= -12 && d <= 12
}
