package main

import (
	"bytes"
	"encoding/json"
	"io"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// Output formats of -o. The default ("") is each command's text.
const (
	outputJSON = "json"
	outputYAML = "yaml"
)

// addOutputFlag adds the -o flag every reporting command shares.
func addOutputFlag(cmd *cobra.Command, o *string) {
	cmd.Flags().StringVarP(o, "output", "o", "", "output format: json or yaml (default: text)")
}

// checkOutput refuses an unknown -o before the command does any work.
func checkOutput(o string) error {
	switch o {
	case "", outputJSON, outputYAML:
		return nil
	}
	return badOutput(o)
}

func badOutput(o string) error {
	return usageErrorf("invalid --output %q: use json or yaml, or leave it out for text", o)
}

// writeOutput prints v as JSON or YAML. YAML is made from the JSON form,
// so both carry the same field names (the json tags), as kubectl's do.
func writeOutput(w io.Writer, o string, v any) error {
	if o == outputYAML {
		var b bytes.Buffer
		if err := writeJSON(&b, v); err != nil {
			return err
		}
		y, err := yaml.JSONToYAML(b.Bytes())
		if err != nil {
			return err
		}
		_, err = w.Write(y)
		return err
	}
	return writeJSON(w, v)
}

// writeJSON prints v as indented JSON without HTML escaping: "<" stays
// "<", as a user reading criteria such as "p95 < 500ms" expects.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
