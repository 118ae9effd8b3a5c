package alertd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"

	"gopkg.in/yaml.v3"
)

// decodeYAML decodes a configuration file into cfg strictly (an unknown
// key is an error) and returns one error per key that could not be
// decoded, named by its key path: "sms.gateways[1].windw (line 14): not a
// setting". A file that is not YAML at all is one error naming the file.
func decodeYAML(b []byte, cfg *Config, file string) []error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	err := dec.Decode(cfg)
	var te *yaml.TypeError
	if err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) {
		// Truncated by accident, it would silently run on the defaults
		// (no SMS gateways: every SMS to the outbox).
		return []error{fmt.Errorf("config %s: the file is empty", file)}
	}
	var doc yaml.Node
	if !errors.As(err, &te) || yaml.Unmarshal(b, &doc) != nil || len(doc.Content) == 0 {
		return []error{fmt.Errorf("config %s: %w", file, err)}
	}
	errs := make([]error, 0, len(te.Errors))
	for _, msg := range te.Errors {
		errs = append(errs, errors.New(describeYAMLError(doc.Content[0], msg)))
	}
	return errs
}

var (
	reYAMLLine    = regexp.MustCompile(`^line (\d+): (.*)$`)
	reYAMLUnknown = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	reYAMLType    = regexp.MustCompile("^cannot unmarshal !!\\w+ `(.*)` into (\\S+)$")
	reYAMLKind    = regexp.MustCompile(`^cannot unmarshal !!(\w+) into (\S+)$`)
)

var yamlKinds = map[string]string{"map": "mapping", "seq": "list", "str": "string", "int": "number", "float": "number", "bool": "boolean"}

// describeYAMLError rewrites one of yaml.v3's decoding errors ("line 14:
// field windw not found in type sms.GatewayConfig") to name the key path.
func describeYAMLError(root *yaml.Node, msg string) string {
	m := reYAMLLine.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	line, _ := strconv.Atoi(m[1])
	what := m[2]
	if u := reYAMLUnknown.FindStringSubmatch(what); u != nil {
		if path := keyPath(root, "", line, func(k, _ *yaml.Node) bool { return k.Value == u[1] }); path != "" {
			return fmt.Sprintf("%s (line %d): not a setting", path, line)
		}
	}
	if t := reYAMLType.FindStringSubmatch(what); t != nil {
		match := func(_, v *yaml.Node) bool { return v.Kind == yaml.ScalarNode && v.Value == t[1] }
		if path := keyPath(root, "", line, match); path != "" {
			return fmt.Sprintf("%s (line %d): %q is not a valid %s", path, line, t[1], t[2])
		}
	}
	if t := reYAMLKind.FindStringSubmatch(what); t != nil {
		match := func(_, v *yaml.Node) bool { return v.Tag == "!!"+t[1] }
		if path := keyPath(root, "", line, match); path != "" {
			return fmt.Sprintf("%s (line %d): a %s is not a valid %s", path, line, yamlKinds[t[1]], t[2])
		}
	}
	return msg
}

// keyPath finds, depth first, the entry on line whose key and value match,
// and returns its path ("sms.gateways[1].window"); "" when none does.
func keyPath(n *yaml.Node, prefix string, line int, match func(k, v *yaml.Node) bool) string {
	join := func(p, k string) string {
		if p == "" {
			return k
		}
		return p + "." + k
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			path := join(prefix, k.Value)
			if (k.Line == line || v.Line == line) && match(k, v) {
				return path
			}
			if p := keyPath(v, path, line, match); p != "" {
				return p
			}
		}
	case yaml.SequenceNode:
		for i, v := range n.Content {
			path := prefix + "[" + strconv.Itoa(i) + "]"
			if v.Line == line && v.Kind == yaml.ScalarNode && match(v, v) {
				return path
			}
			if p := keyPath(v, path, line, match); p != "" {
				return p
			}
		}
	}
	return ""
}
