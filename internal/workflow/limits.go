package workflow

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// Limits on a workflow file, checked before actionlint sees it. actionlint resolves YAML aliases
// by sharing nodes and then walks the tree as if it were expanded, so a few hundred bytes of
// nested aliases ("billion laughs") cost exponential time and memory. Counting the expanded
// size on the parsed node graph, with each anchor counted once, is linear in the file.
const (
	// MaxFileSize bounds the bytes of one workflow file. GitHub's largest real workflows are
	// tens of kilobytes.
	MaxFileSize = 1 << 20
	// MaxNodes bounds the YAML nodes of a file with every alias expanded (a large real
	// workflow has a few thousand).
	MaxNodes = 100_000
	// MaxNesting bounds how deep mappings and sequences nest, aliases expanded.
	MaxNesting = 64
)

// checkLimits reports the first limit src breaks, at the place that breaks it, or gives the
// parsed document. Source that is not YAML gives neither: actionlint reports the syntax error
// with its own position.
func checkLimits(file string, src []byte) (*yaml.Node, *Error) {
	if len(src) > MaxFileSize {
		return nil, &Error{File: file, Line: 1, Col: 1, Kind: KindLimits, Message: fmt.Sprintf(
			"the file is larger than %d bytes, the most a workflow file may be: split it into several workflows or reusable workflows",
			MaxFileSize)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, nil
	}
	c := nodeCounter{sizes: map[*yaml.Node]extent{}}
	c.walk(&doc, 0)
	if c.err != nil {
		c.err.File = file
		return nil, c.err
	}
	return &doc, nil
}

// nodeCounter computes expanded sizes and heights with one entry per node, so an anchor used a
// million times is still walked once.
type nodeCounter struct {
	sizes map[*yaml.Node]extent
	err   *Error
}

type extent struct{ size, height int }

// walk returns the expanded extent of n found at the given nesting depth.
func (c *nodeCounter) walk(n *yaml.Node, depth int) extent {
	if c.err != nil {
		return extent{}
	}
	target := n
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		target = n.Alias
	}
	x, seen := c.sizes[target]
	if !seen {
		// An anchor still being walked (a recursive alias, which actionlint reports) counts
		// as a leaf.
		c.sizes[target] = extent{size: 1}
		x = extent{size: 1}
		for _, ch := range target.Content {
			cx := c.walk(ch, depth+1)
			if c.err != nil {
				return extent{}
			}
			x.size += cx.size
			x.height = max(x.height, cx.height+1)
			if x.size > MaxNodes {
				// The child that pushes the total over is where to look.
				c.err = c.tooMany(ch)
				return extent{}
			}
		}
		c.sizes[target] = x
	}
	if depth+x.height > MaxNesting {
		c.err = &Error{Line: n.Line, Col: n.Column, Kind: KindLimits, Message: fmt.Sprintf(
			"YAML nests more than %d levels deep here (aliases expanded): flatten this value", MaxNesting)}
		return extent{}
	}
	return x
}

func (c *nodeCounter) tooMany(at *yaml.Node) *Error {
	return &Error{Line: at.Line, Col: at.Column, Kind: KindLimits, Message: fmt.Sprintf(
		"YAML aliases expand this workflow to more than %d nodes (an alias bomb?): use fewer nested aliases",
		MaxNodes)}
}
