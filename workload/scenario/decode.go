package scenario

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// decodeStrict decodes a YAML node into v field by field. yaml.v3's own
// KnownFields mode names Go types in its errors ("field foo not found in type
// scenario.Churn"); scenario authors need the YAML path instead
// ("churn.foo (line 7): unknown field"), so the walk is done here and only
// scalars are handed to yaml.v3.
func decodeStrict(n *yaml.Node, v reflect.Value, path string) error {
	for n.Kind == yaml.DocumentNode || n.Kind == yaml.AliasNode {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
			continue
		}
		if len(n.Content) == 0 {
			return errors.New("empty document")
		}
		n = n.Content[0]
	}
	if v.Kind() == reflect.Pointer {
		if n.Tag == "!!null" {
			return nil
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return decodeStrict(n, v.Elem(), path)
	}
	if v.CanAddr() {
		if _, ok := v.Addr().Interface().(yaml.Unmarshaler); ok {
			return decodeScalar(n, v, path)
		}
	}
	switch v.Kind() {
	case reflect.Struct:
		return decodeStruct(n, v, path)
	case reflect.Slice:
		if n.Tag == "!!null" {
			return nil
		}
		if n.Kind != yaml.SequenceNode {
			return fieldErr(path, n, "want a list, got %s", describe(n))
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			if err := decodeStrict(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	default:
		return decodeScalar(n, v, path)
	}
}

func decodeStruct(n *yaml.Node, v reflect.Value, path string) error {
	if n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fieldErr(path, n, "want a mapping, got %s", describe(n))
	}
	fields := map[string]int{}
	var names []string
	t := v.Type()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		fields[name] = i
		names = append(names, name)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		p := join(path, k.Value)
		idx, ok := fields[k.Value]
		if !ok {
			return fieldErr(p, k, "unknown field (known: %s)", strings.Join(names, ", "))
		}
		if seen[k.Value] {
			return fieldErr(p, k, "set twice")
		}
		seen[k.Value] = true
		if err := decodeStrict(val, v.Field(idx), p); err != nil {
			return err
		}
	}
	return nil
}

var durationType = reflect.TypeOf(time.Duration(0))

func decodeScalar(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind != yaml.ScalarNode {
		return fieldErr(path, n, "want a single value, got %s", describe(n))
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		want := v.Kind().String()
		switch {
		case v.Type() == durationType:
			want = "a duration such as 30s or 2m"
		case v.Kind() == reflect.Int:
			want = "an integer"
		case v.Kind() == reflect.Float64:
			want = "a number"
		case v.Kind() == reflect.String:
			want = "a string"
		default:
			// Custom types (Threshold) produce their own readable message.
			var te *yaml.TypeError
			if !errors.As(err, &te) {
				return fieldErr(path, n, "%v", err)
			}
		}
		return fieldErr(path, n, "want %s, got %q", want, n.Value)
	}
	return nil
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return fmt.Sprintf("%q", n.Value)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// FieldError names the scenario field that is wrong.
type FieldError struct {
	Field string
	Line  int // 0 when the error is not tied to a line (validation)
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s (line %d): %s", e.Field, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Field, e.Msg)
}

func fieldErr(path string, n *yaml.Node, format string, args ...any) error {
	if path == "" {
		path = "(top level)"
	}
	return &FieldError{Field: path, Line: n.Line, Msg: fmt.Sprintf(format, args...)}
}
