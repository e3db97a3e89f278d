package report

import (
	"errors"
	"fmt"
	"image/color"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Plot file base names (the extension is the format).
const (
	PlotLatencyCDF = "latency-cdf"
	PlotEndpoints  = "endpoints"
	PlotMemory     = "destination-memory"
	PlotSweep      = "subscriber-sweep"
)

var (
	colorUpdate   = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	colorE2E      = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
	colorDesired  = color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff}
	colorObserved = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}
)

// WritePlots draws the latency CDF, endpoints desired vs observed over time
// and the destination's memory over time into dir as format ("svg" or
// "png"). A plot without data is skipped, not drawn empty.
func WritePlots(dir string, r *Report, format string) ([]string, error) {
	if format != "svg" && format != "png" {
		return nil, fmt.Errorf("plot format %q: use svg or png", format)
	}
	var out []string
	for _, pl := range []struct {
		name string
		draw func(*Report) (*plot.Plot, error)
	}{
		{PlotLatencyCDF, latencyCDFPlot},
		{PlotEndpoints, endpointsPlot},
		{PlotMemory, memoryPlot},
		{PlotSweep, sweepPlot},
	} {
		p, err := pl.draw(r)
		if errors.Is(err, errNoData) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("plot %s: %w", pl.name, err)
		}
		path := filepath.Join(dir, pl.name+"."+format)
		if err := p.Save(8*vg.Inch, 4.5*vg.Inch, path); err != nil {
			return out, fmt.Errorf("plot %s: %w", pl.name, err)
		}
		out = append(out, path)
	}
	return out, nil
}

func line(xys plotter.XYs, c color.Color) (*plotter.Line, error) {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return nil, err
	}
	l.Color = c
	l.Width = vg.Points(1.5)
	return l, nil
}

func latencyCDFPlot(r *Report) (*plot.Plot, error) {
	if len(r.UpdateLatencyCDF) == 0 && len(r.E2ELatencyCDF) == 0 {
		return nil, errNoData
	}
	p := plot.New()
	p.Title.Text = r.Scenario.Name + ": latency CDF"
	p.X.Label.Text = "latency (ms)"
	p.Y.Label.Text = "fraction of samples"
	p.Y.Min, p.Y.Max = 0, 1
	p.Add(plotter.NewGrid())
	p.Legend.Top = false
	p.Legend.Left = false
	for _, s := range []struct {
		name string
		pts  []CDFPoint
		c    color.Color
	}{
		{fmt.Sprintf("update latency (n=%d)", r.UpdateLatency.Count), r.UpdateLatencyCDF, colorUpdate},
		{fmt.Sprintf("e2e latency (n=%d)", r.E2ELatency.Count), r.E2ELatencyCDF, colorE2E},
	} {
		if len(s.pts) == 0 {
			continue
		}
		xys := make(plotter.XYs, 0, len(s.pts)+1)
		xys = append(xys, plotter.XY{X: s.pts[0].Seconds * 1000, Y: 0})
		for _, pt := range s.pts {
			xys = append(xys, plotter.XY{X: pt.Seconds * 1000, Y: pt.Fraction})
		}
		l, err := line(xys, s.c)
		if err != nil {
			return nil, err
		}
		p.Add(l)
		p.Legend.Add(s.name, l)
	}
	return p, nil
}

func endpointsPlot(r *Report) (*plot.Plot, error) {
	if len(r.Endpoints) == 0 {
		return nil, errNoData
	}
	p := plot.New()
	p.Title.Text = r.Scenario.Name + ": endpoints desired vs observed ready"
	p.X.Label.Text = "time since run start (s)"
	p.Y.Label.Text = "endpoints (all services)"
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true
	start := r.Run.Started
	desired := make(plotter.XYs, 0, 2*len(r.Endpoints))
	observed := make(plotter.XYs, 0, 2*len(r.Endpoints))
	top := 0
	for i, e := range r.Endpoints {
		x := e.Time.Sub(start).Seconds()
		// Both are counts that jump: draw steps, holding the old value until
		// the change.
		if i > 0 {
			prev := r.Endpoints[i-1]
			if prev.Desired != e.Desired {
				desired = append(desired, plotter.XY{X: x, Y: float64(prev.Desired)})
			}
			if prev.Observed != e.Observed {
				observed = append(observed, plotter.XY{X: x, Y: float64(prev.Observed)})
			}
		}
		desired = append(desired, plotter.XY{X: x, Y: float64(e.Desired)})
		observed = append(observed, plotter.XY{X: x, Y: float64(e.Observed)})
		top = max(top, e.Desired, e.Observed)
	}
	if end := r.Run.Ended.Sub(start).Seconds(); end > desired[len(desired)-1].X {
		last := r.Endpoints[len(r.Endpoints)-1]
		desired = append(desired, plotter.XY{X: end, Y: float64(last.Desired)})
		observed = append(observed, plotter.XY{X: end, Y: float64(last.Observed)})
	}
	ld, err := line(desired, colorDesired)
	if err != nil {
		return nil, err
	}
	ld.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	lo, err := line(observed, colorObserved)
	if err != nil {
		return nil, err
	}
	p.Add(ld, lo)
	p.Legend.Add("desired (scale targets)", ld)
	p.Legend.Add("observed ready (EndpointSlices)", lo)
	// Headroom so the legend does not cover the lines at their maximum.
	p.Y.Min, p.Y.Max = 0, float64(top)*1.25+1
	return p, nil
}

func memoryPlot(r *Report) (*plot.Plot, error) {
	var xys plotter.XYs
	start := r.Run.Started
	top := 0.0
	for _, s := range r.Destination.Samples {
		if s.OK() {
			y := s.ResidentMemoryBytes / (1 << 20)
			xys = append(xys, plotter.XY{X: s.Time.Sub(start).Seconds(), Y: y})
			top = max(top, y)
		}
	}
	if len(xys) == 0 {
		return nil, errNoData
	}
	p := plot.New()
	p.Title.Text = r.Scenario.Name + ": destination controller resident memory"
	p.X.Label.Text = "time since run start (s)"
	p.Y.Label.Text = "RSS (MiB)"
	p.Add(plotter.NewGrid())
	l, err := line(xys, colorUpdate)
	if err != nil {
		return nil, err
	}
	p.Add(l)
	if sc, err := plotter.NewScatter(xys); err == nil && len(xys) < 200 {
		sc.GlyphStyle.Color = colorUpdate
		sc.GlyphStyle.Radius = vg.Points(1.5)
		p.Add(sc)
	}
	p.Y.Min, p.Y.Max = 0, top*1.1+1
	return p, nil
}
