// Package markdown renders untrusted GitHub-flavoured markdown (step
// summaries, changelogs) to HTML that is safe to put in a page: goldmark
// renders it, bluemonday keeps only the elements and attributes markdown
// produces, and links get rel="nofollow noopener" and open in a new tab.
package markdown

import (
	"bytes"
	"fmt"
	"html/template"
	"regexp"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/renderer/html"
)

// MaxInput bounds what Render reads: a step summary is at most 1 MiB on
// GitHub, and the rest is cut with a note rather than rendered slowly.
const MaxInput = 1 << 20

// Renderer turns markdown into sanitized HTML. It holds no per-call state
// and is safe for concurrent use.
type Renderer struct {
	md     goldmark.Markdown
	policy *bluemonday.Policy
}

// New returns a Renderer for GitHub-flavoured markdown: tables,
// strikethrough, task lists and autolinks, as step summaries use them.
func New() *Renderer {
	md := goldmark.New(
		// Table cells align with an attribute, not inline style: the UI's
		// CSP forbids style attributes.
		goldmark.WithExtensions(extension.Linkify, extension.Strikethrough, extension.TaskList,
			extension.NewTable(extension.WithTableCellAlignMethod(extension.TableCellAlignAttribute))),
		// Raw HTML is passed through, as GitHub renders the safe part of it
		// (<details>, <sub>, tables of coverage tools): the policy below is
		// what keeps a summary from running or loading anything.
		goldmark.WithRendererOptions(html.WithUnsafe()),
	)
	return &Renderer{md: md, policy: policy()}
}

// policy allows what markdown renders to and nothing that runs or loads:
// no script, style, iframe, form or event attribute; links and images only
// over http(s) (and mailto for links); images are left out entirely, as a
// summary's remote image would tell a third party who read the page.
func policy() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowElements("b", "i", "s", "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
		"ul", "ol", "li", "strong", "em", "del", "code", "pre", "table", "thead", "tbody", "tr", "th", "td",
		"details", "summary", "sup", "sub", "kbd")
	p.AllowAttrs("align").Matching(regexp.MustCompile(`^(left|right|center)$`)).OnElements("th", "td")
	p.AllowAttrs("class").Matching(regexp.MustCompile(`^language-[A-Za-z0-9_+-]{1,32}$`)).OnElements("code")
	p.AllowAttrs("type").Matching(regexp.MustCompile(`^checkbox$`)).OnElements("input")
	p.AllowAttrs("checked", "disabled").OnElements("input")
	p.AllowElements("input")
	p.AllowAttrs("start").Matching(bluemonday.Integer).OnElements("ol")
	p.AllowAttrs("href").OnElements("a")
	p.AllowURLSchemes("http", "https", "mailto")
	p.AllowRelativeURLs(false)
	p.RequireParseableURLs(true)
	p.RequireNoFollowOnLinks(true)
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	return p
}

// Render returns src as sanitized HTML. Input longer than MaxInput is cut
// there, with a note saying so.
func (r *Renderer) Render(src string) template.HTML {
	cut := false
	if len(src) > MaxInput {
		src, cut = src[:MaxInput], true
	}
	var buf bytes.Buffer
	if err := r.md.Convert([]byte(src), &buf); err != nil {
		// goldmark only fails on a writer error, which a bytes.Buffer never
		// gives; show the text rather than nothing if it ever does.
		return template.HTML("<pre>" + template.HTMLEscapeString(src) + "</pre>")
	}
	out := r.policy.SanitizeBytes(buf.Bytes())
	if cut {
		out = append(out, fmt.Sprintf("<p><em>(cut at %d KiB)</em></p>", MaxInput>>10)...)
	}
	return template.HTML(out) // #nosec: sanitized by the policy above
}
