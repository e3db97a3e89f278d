package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// File names inside a report directory.
const (
	JSONFile     = "report.json"
	MarkdownFile = "report.md"
)

// WriteJSON writes r as indented JSON.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	return nil
}

// ReadFile reads a report.json, refusing other schema versions.
func ReadFile(path string) (*Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read report: %w", err)
	}
	var probe struct {
		SchemaVersion *int `json:"schemaVersion"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("read report %s: not JSON: %w", path, err)
	}
	if probe.SchemaVersion == nil {
		return nil, fmt.Errorf("read report %s: no schemaVersion: not a dstload report.json", path)
	}
	if *probe.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("read report %s: schemaVersion %d, this dstload reads %d", path, *probe.SchemaVersion, SchemaVersion)
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("read report %s: %w", path, err)
	}
	return &r, nil
}

// Files are the paths Write produced.
type Files struct {
	JSON, Markdown, HTML string
	Plots                []string
}

// Write puts report.json, report.md, the plots and report.html into dir (created 0755).
// format is the plot format: "svg" or "png".
func Write(dir string, r *Report, format string) (Files, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Files{}, fmt.Errorf("create report dir: %w", err)
	}
	f := Files{JSON: filepath.Join(dir, JSONFile), Markdown: filepath.Join(dir, MarkdownFile)}
	plots, err := WritePlots(dir, r, format)
	if err != nil {
		return f, err
	}
	f.Plots = plots
	if err := writeFile(f.JSON, func(w io.Writer) error { return WriteJSON(w, r) }); err != nil {
		return f, err
	}
	rel := make([]string, len(plots))
	for i, p := range plots {
		rel[i] = filepath.Base(p)
	}
	if err := writeFile(f.Markdown, func(w io.Writer) error { return WriteMarkdown(w, r, rel) }); err != nil {
		return f, err
	}
	embedded, err := EmbedPlots(plots)
	if err != nil {
		return f, err
	}
	f.HTML = filepath.Join(dir, HTMLFile)
	if err := writeFile(f.HTML, func(w io.Writer) error { return WriteHTML(w, r, embedded) }); err != nil {
		return f, err
	}
	return f, nil
}

// writeFile writes through a temporary file so a reader never sees half a
// report.
func writeFile(path string, fill func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := fill(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
