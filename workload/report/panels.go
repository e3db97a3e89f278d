package report

import (
	"fmt"
	"image/color"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/dstload/dstload/workload/scenario"
)

// latencyFloorMs is the left end of the log latency axis: latencies at or
// below it (negative ones included) are drawn there.
const latencyFloorMs = 0.1

// latencyPanels are one CDF panel per latency (update latency is
// milliseconds, e2e seconds: one linear axis would flatten the first), each
// on a log axis with p50/p95/p99 and the criteria thresholds marked.
func latencyPanels(r *Report) ([]*plot.Plot, error) {
	var out []*plot.Plot
	for _, s := range []struct {
		name   string
		q      Quantiles
		pts    []CDFPoint
		c      color.Color
		metric string // criteria with this prefix are drawn as thresholds
	}{
		{"update latency (observer -> stream)", r.UpdateLatency, r.UpdateLatencyCDF, colorUpdate, "update_latency_"},
		{"e2e latency (scale write -> stream converged)", r.E2ELatency, r.E2ELatencyCDF, colorE2E, "e2e_latency_"},
	} {
		if len(s.pts) == 0 {
			continue
		}
		p, err := cdfPanel(r, s.name, s.q, s.pts, s.c, s.metric)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, errNoData
	}
	out[0].Title.Text = r.Scenario.Name + ": " + out[0].Title.Text
	return out, nil
}

func cdfPanel(r *Report, name string, q Quantiles, pts []CDFPoint, c color.Color, metric string) (*plot.Plot, error) {
	ms := func(s float64) float64 { return max(s*1000, latencyFloorMs) }
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s CDF, n=%d", name, q.Count)
	p.X.Label.Text = fmt.Sprintf("latency (ms, log scale; %gms and below, negative included, drawn at %gms)", latencyFloorMs, latencyFloorMs)
	p.Y.Label.Text = "fraction of samples"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min, p.Y.Max = 0, 1.05
	p.Add(plotter.NewGrid())
	p.Legend.Top, p.Legend.Left = false, false
	xys := make(plotter.XYs, 0, len(pts)+1)
	xys = append(xys, plotter.XY{X: ms(pts[0].Seconds), Y: 0})
	for _, pt := range pts {
		xys = append(xys, plotter.XY{X: ms(pt.Seconds), Y: pt.Fraction})
	}
	l, err := line(xys, c)
	if err != nil {
		return nil, err
	}
	// An empirical CDF holds its fraction until the next sample.
	l.StepStyle = plotter.PostStep
	p.Add(l)
	p.Legend.Add(name, l)
	hi := ms(q.Max)

	// p50/p95/p99: a dot on the curve and its value.
	marks := plotter.XYs{{X: ms(q.P50), Y: 0.5}, {X: ms(q.P95), Y: 0.95}, {X: ms(q.P99), Y: 0.99}}
	dots, err := plotter.NewScatter(marks)
	if err != nil {
		return nil, err
	}
	dots.GlyphStyle.Color, dots.GlyphStyle.Radius, dots.GlyphStyle.Shape = c, vg.Points(3), draw.CircleGlyph{}
	labels, err := plotter.NewLabels(plotter.XYLabels{XYs: marks, Labels: []string{
		"p50 " + secs(q.P50), "p95 " + secs(q.P95), "p99 " + secs(q.P99)}})
	if err != nil {
		return nil, err
	}
	for i := range labels.TextStyle {
		labels.TextStyle[i].XAlign, labels.TextStyle[i].YAlign = draw.XRight, draw.YTop
	}
	labels.Offset = vg.Point{X: -vg.Points(4), Y: -vg.Points(2)}
	p.Add(dots, labels)

	// The criteria on this latency, where the threshold lies.
	for _, cr := range r.Criteria {
		if !strings.HasPrefix(cr.Metric, metric) || cr.Max == nil || cr.Unit != string(scenario.UnitSeconds) {
			continue
		}
		x := ms(*cr.Max)
		vl, err := vline(x, 0, 1.05, colorThreshold)
		if err != nil {
			return nil, err
		}
		p.Add(vl)
		p.Legend.Add(fmt.Sprintf("criterion %s (%s)", cr.Threshold, strings.ToUpper(cr.Verdict)), vl)
		hi = max(hi, x)
	}
	lo := ms(pts[0].Seconds)
	p.X.Min = math.Pow(10, math.Floor(math.Log10(lo)))
	p.X.Max = math.Pow(10, math.Ceil(math.Log10(hi*1.2)))
	return p, nil
}

// timelinePanels share the run's time axis: stream ends (each followed by
// a reconnect), stale and missing endpoints, and the destination's memory
// with the scrapes that failed.
func timelinePanels(r *Report) ([]*plot.Plot, error) {
	tl := r.Timeline
	if len(tl.Points) == 0 && len(r.Destination.Samples) == 0 {
		return nil, errNoData
	}
	start := r.Run.Started
	end := r.Run.Ended.Sub(start).Seconds()
	panel := func(title, ylabel string) *plot.Plot {
		p := plot.New()
		p.Title.Text = title
		p.Y.Label.Text = ylabel
		p.X.Min, p.X.Max = 0, end
		p.Y.Min = 0
		p.Add(plotter.NewGrid())
		p.Legend.Top, p.Legend.Left = true, true
		return p
	}
	series := func(p *plot.Plot, name string, c color.Color, v func(TimelinePoint) int) error {
		xys := make(plotter.XYs, 0, len(tl.Points))
		top := 0
		for _, pt := range tl.Points {
			n := v(pt)
			xys = append(xys, plotter.XY{X: pt.Time.Sub(start).Seconds(), Y: float64(n)})
			top = max(top, n)
		}
		if len(xys) == 0 {
			return nil
		}
		l, err := line(xys, c)
		if err != nil {
			return err
		}
		// Each point counts its whole interval.
		l.StepStyle = plotter.PostStep
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s (max %d)", name, top), l)
		p.Y.Max = max(p.Y.Max, float64(top)*1.3+1)
		return nil
	}
	iv := secs(tl.IntervalSeconds)
	ends := panel(r.Scenario.Name+": stream ends per "+iv+" (each is followed by a reconnect)", "streams")
	wrong := panel("endpoints wrong on streams (stale: held after leaving the slices; missing: ready, not held)", "endpoints")
	for _, s := range []struct {
		p    *plot.Plot
		name string
		c    color.Color
		v    func(TimelinePoint) int
	}{
		{ends, "errors", colorBad, func(p TimelinePoint) int { return p.StreamErrors }},
		{ends, "resets (status OK)", colorE2E, func(p TimelinePoint) int { return p.StreamResets }},
		{wrong, "stale", colorBad, func(p TimelinePoint) int { return p.StaleEndpoints }},
		{wrong, "missing", colorMissing, func(p TimelinePoint) int { return p.MissingEndpoints }},
	} {
		if err := series(s.p, s.name, s.c, s.v); err != nil {
			return nil, err
		}
	}
	mem, err := memoryPanel(r, panel)
	if err != nil {
		return nil, err
	}
	mem.X.Label.Text = "time since run start (s)"
	return []*plot.Plot{ends, wrong, mem}, nil
}

func memoryPanel(r *Report, panel func(title, ylabel string) *plot.Plot) (*plot.Plot, error) {
	p := panel("destination controller resident memory", "RSS (MiB)")
	start := r.Run.Started
	var xys, failed plotter.XYs
	top := 0.0
	for _, s := range r.Destination.Samples {
		x := s.Time.Sub(start).Seconds()
		if !s.OK() {
			failed = append(failed, plotter.XY{X: x, Y: 0})
			continue
		}
		y := s.ResidentMemoryBytes / (1 << 20)
		xys = append(xys, plotter.XY{X: x, Y: y})
		top = max(top, y)
	}
	if len(xys) > 0 {
		l, err := line(xys, colorUpdate)
		if err != nil {
			return nil, err
		}
		p.Add(l)
		name := "RSS"
		if d := r.Destination; d.MemorySlopeSamples >= 2 {
			name += fmt.Sprintf(" (trend over the load %s/hour)", signedBytes(d.MemoryGrowthPerHourBytes))
		}
		p.Legend.Add(name, l)
	}
	if len(failed) > 0 {
		sc, err := plotter.NewScatter(failed)
		if err != nil {
			return nil, err
		}
		sc.GlyphStyle.Color, sc.GlyphStyle.Shape, sc.GlyphStyle.Radius = colorBad, draw.CrossGlyph{}, vg.Points(3)
		p.Add(sc)
		p.Legend.Add(fmt.Sprintf("metrics unreachable (%d scrapes)", len(failed)), sc)
	}
	p.Y.Max = top*1.3 + 1
	return p, nil
}

// signedBytes is bytesText for a change, which may be negative.
func signedBytes(v float64) string {
	if v < 0 {
		return "-" + bytesText(-v)
	}
	return "+" + bytesText(v)
}
