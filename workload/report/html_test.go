package report

import (
	"context"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// chromiumBin finds a headless browser: DSTLOAD_CHROMIUM, else Debian's
// chromium on PATH. Under CI=true a missing one fails the test.
func chromiumBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("DSTLOAD_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no headless browser: install Debian's chromium (apt-get install -y chromium) or set DSTLOAD_CHROMIUM")
	}
	t.Skip("no chromium on PATH (apt-get install -y chromium, or DSTLOAD_CHROMIUM)")
	return ""
}

type browsed struct {
	// console holds the page's console messages, fetched the network
	// requests the page made (its network isolation key is the file's).
	console, fetched []string
	// colors counts the screenshot's distinct colours; inked is the share
	// of its pixels that are not white.
	colors int
	inked  float64
}

var consoleLine = regexp.MustCompile(`:CONSOLE[:(][^\]]*\] (.*)`)

// browse renders page in headless chromium, with its console logged and a
// NetLog of its requests, and takes a screenshot.
func browse(t *testing.T, bin, page string) browsed {
	t.Helper()
	dir := t.TempDir()
	shot, netlog := filepath.Join(dir, "shot.png"), filepath.Join(dir, "netlog.json")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-default-apps",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--enable-logging=stderr", "--v=0",
		"--log-net-log="+netlog, "--window-size=1280,3000", "--screenshot="+shot, "file://"+page)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	var b browsed
	for _, m := range consoleLine.FindAllStringSubmatch(string(out), -1) {
		b.console = append(b.console, m[1])
	}
	data, err := os.ReadFile(netlog)
	if err != nil {
		t.Fatalf("chromium wrote no NetLog: %v", err)
	}
	var log struct {
		Events []struct {
			Params struct {
				URL string `json:"url"`
				NIK string `json:"network_isolation_key"`
			} `json:"params"`
		} `json:"events"`
	}
	// Chromium may leave the NetLog's closing brackets out when it exits.
	if err := json.Unmarshal(data, &log); err != nil {
		if err := json.Unmarshal(append(data, []byte("]}")...), &log); err != nil {
			t.Fatalf("NetLog: %v", err)
		}
	}
	for _, e := range log.Events {
		if strings.HasPrefix(e.Params.NIK, "file://") && e.Params.URL != "" && !strings.HasPrefix(e.Params.URL, "file:") && !strings.HasPrefix(e.Params.URL, "data:") {
			b.fetched = append(b.fetched, e.Params.URL)
		}
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v\n%s", err, out)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	colors := map[[3]uint32]bool{}
	inked, all := 0, 0
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y += 2 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colors[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
			if r < 0xf000 || g < 0xf000 || bl < 0xf000 {
				inked++
			}
			all++
		}
	}
	b.colors, b.inked = len(colors), float64(inked)/float64(all)
	return b
}

// TestHTMLReportRenders renders report.html in a real headless browser:
// it draws (text and plots), logs nothing to the console and fetches
// nothing. A page that does both is caught, so the checks can fail.
func TestHTMLReportRenders(t *testing.T) {
	bin := chromiumBin(t)
	control := filepath.Join(t.TempDir(), "control.html")
	if err := os.WriteFile(control, []byte(`<!DOCTYPE html><html><body><p>x</p><img src="http://127.0.0.1:9/x.png"><script>console.error("boom")</script></body></html>`), 0o644); err != nil {
		t.Fatal(err)
	}
	r := build(t)
	tests := []struct {
		name, format string
	}{
		{"svg plots", "svg"},
		{"png plots", "png"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			files, err := Write(dir, r, tt.format)
			if err != nil {
				t.Fatal(err)
			}
			html, err := os.ReadFile(files.HTML)
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(html), `src="data:image/`); n != len(files.Plots) || n == 0 {
				t.Errorf("%d plots embedded, want %d", n, len(files.Plots))
			}
			// Self-contained: it still renders with the plot files gone.
			for _, p := range files.Plots {
				os.Remove(p)
			}
			b := browse(t, bin, files.HTML)
			if len(b.console) > 0 || len(b.fetched) > 0 {
				t.Errorf("console %q, fetched %q", b.console, b.fetched)
			}
			if b.colors < 20 || b.inked < 0.02 {
				t.Errorf("screenshot looks empty: %d colours, %.1f%% inked", b.colors, 100*b.inked)
			}
		})
	}
	t.Run("a page that logs and fetches is caught", func(t *testing.T) {
		b := browse(t, bin, control)
		if len(b.console) == 0 || !strings.Contains(b.console[0], "boom") || len(b.fetched) == 0 {
			t.Errorf("control page: console %q, fetched %q", b.console, b.fetched)
		}
	})
}
