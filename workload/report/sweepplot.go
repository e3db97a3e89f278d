package report

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg/draw"
)

var colorRSS = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}

// sweepPlot is memory against subscribers, one point per step, with the
// fitted lines.
func sweepPlot(r *Report) (*plot.Plot, error) {
	sw := r.Sweep
	if sw == nil || sw.Heap == nil {
		return nil, errNoData
	}
	p := plot.New()
	p.Title.Text = r.Scenario.Name + ": destination memory vs subscribers"
	p.X.Label.Text = "subscribers (endpoints_subscribers)"
	p.Y.Label.Text = "MiB"
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true
	const mib = 1 << 20
	maxX := 0.0
	for _, st := range sw.Steps {
		maxX = max(maxX, st.Subscribers)
	}
	for _, s := range []struct {
		name string
		fit  *Fit
		y    func(SweepStep) float64
		c    color.Color
	}{
		{"heap (" + sw.HeapSource + ")", sw.Heap, func(st SweepStep) float64 {
			if sw.HeapSource == HeapAfterGC {
				return st.HeapAfterGCBytes
			}
			return st.HeapInuseBytes
		}, colorUpdate},
		{"rss", sw.RSS, func(st SweepStep) float64 { return st.ResidentMemoryBytes }, colorRSS},
		{"live heap (pprof)", sw.Profile, func(st SweepStep) float64 { return st.ProfileInuseBytes }, colorObserved},
	} {
		if s.fit == nil {
			continue
		}
		var pts plotter.XYs
		for _, st := range sw.Steps {
			if st.Samples > 0 {
				pts = append(pts, plotter.XY{X: st.Subscribers, Y: s.y(st) / mib})
			}
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return nil, err
		}
		sc.GlyphStyle.Color = s.c
		sc.GlyphStyle.Shape = draw.CircleGlyph{}
		f := s.fit
		l, err := line(plotter.XYs{{X: 0, Y: f.InterceptBytes / mib}, {X: maxX, Y: (f.InterceptBytes + f.SlopeBytesPerSubscriber*maxX) / mib}}, s.c)
		if err != nil {
			return nil, err
		}
		p.Add(sc, l)
		p.Legend.Add(fmt.Sprintf("%s: %s", s.name, fitText(f)), sc, l)
	}
	return p, nil
}
