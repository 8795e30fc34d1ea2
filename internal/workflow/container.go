package workflow

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// ContainerLists reads the ports and volumes of a job's container
// (service "") or of one of its services from the source: actionlint v1.7.12
// stores a container's volumes over its ports, so neither can be taken from
// its AST when volumes are given.
func (w *Workflow) ContainerLists(jobID, service string) (ports, volumes []string) {
	var doc yaml.Node
	if err := yaml.Unmarshal(w.Source, &doc); err != nil || len(doc.Content) == 0 {
		return nil, nil
	}
	n := child(doc.Content[0], "jobs")
	n = childFold(n, jobID)
	if service == "" {
		n = child(n, "container")
	} else {
		n = child(child(n, "services"), service)
	}
	return scalars(child(n, "ports")), scalars(child(n, "volumes"))
}

func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func childFold(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if strings.EqualFold(n.Content[i].Value, key) {
			return n.Content[i+1]
		}
	}
	return nil
}

func scalars(n *yaml.Node) []string {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	var out []string
	for _, c := range n.Content {
		if c.Kind == yaml.ScalarNode {
			out = append(out, c.Value)
		}
	}
	return out
}
