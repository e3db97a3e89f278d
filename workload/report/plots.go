package report

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Plot file base names (the extension is the format).
const (
	PlotLatencyCDF = "latency-cdf"
	PlotEndpoints  = "endpoints"
	PlotTimeline   = "timeline"
	PlotSweep      = "subscriber-sweep"
)

var (
	colorUpdate    = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	colorE2E       = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
	colorDesired   = color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff}
	colorObserved  = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}
	colorBad       = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	colorMissing   = color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}
	colorThreshold = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
)

// figure is one image of one or more panels stacked over each other.
type figure struct {
	name   string
	height vg.Length
	draw   func(*Report) ([]*plot.Plot, error)
}

var figures = []figure{
	{PlotLatencyCDF, 7 * vg.Inch, latencyPanels},
	{PlotEndpoints, 4.5 * vg.Inch, func(r *Report) ([]*plot.Plot, error) {
		p, err := endpointsPlot(r)
		return []*plot.Plot{p}, err
	}},
	{PlotTimeline, 8 * vg.Inch, timelinePanels},
	{PlotSweep, 4.5 * vg.Inch, func(r *Report) ([]*plot.Plot, error) {
		p, err := sweepPlot(r)
		return []*plot.Plot{p}, err
	}},
}

const figureWidth = 9 * vg.Inch

// WritePlots draws the latency CDFs (log axis, quantiles and criteria
// marked), endpoints desired vs observed, and the run's timeline (stream
// ends, wrong endpoints, destination memory) into dir as format ("svg" or
// "png"). A figure without data is skipped, not drawn empty.
func WritePlots(dir string, r *Report, format string) ([]string, error) {
	if format != "svg" && format != "png" {
		return nil, fmt.Errorf("plot format %q: use svg or png", format)
	}
	var out []string
	for _, f := range figures {
		panels, err := f.draw(r)
		if errors.Is(err, errNoData) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("plot %s: %w", f.name, err)
		}
		path := filepath.Join(dir, f.name+"."+format)
		if err := saveFigure(path, format, panels, figureWidth, f.height); err != nil {
			return out, fmt.Errorf("plot %s: %w", f.name, err)
		}
		out = append(out, path)
	}
	return out, nil
}

// saveFigure stacks panels (sharing the width, aligned) into one image.
func saveFigure(path, format string, panels []*plot.Plot, w, h vg.Length) error {
	var c vg.CanvasWriterTo
	switch format {
	case "svg":
		c = vgsvg.New(w, h)
	default:
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(110))}
	}
	dc := draw.New(c)
	rows := make([][]*plot.Plot, len(panels))
	for i, p := range panels {
		rows[i] = []*plot.Plot{p}
	}
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadX: vg.Millimeter, PadY: 3 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter}
	for i, cs := range plot.Align(rows, tiles, dc) {
		panels[i].Draw(cs[0])
	}
	return writeTo(path, c)
}

func writeTo(path string, c io.WriterTo) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
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

// vline is a dashed vertical line from y0 to y1.
func vline(x, y0, y1 float64, c color.Color) (*plotter.Line, error) {
	l, err := line(plotter.XYs{{X: x, Y: y0}, {X: x, Y: y1}}, c)
	if err != nil {
		return nil, err
	}
	l.Width = vg.Points(1)
	l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	return l, nil
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
