package markdown

import (
	"strings"
	"testing"

	"golang.org/x/net/html"
)

func TestRenderKeepsMarkdown(t *testing.T) {
	r := New()
	src := "## Coverage\n\n| file | cover |\n| :--- | ---: |\n| calc.py | 93% |\n\n" +
		"```python\nprint('hi')\n```\n\nSee [the docs](https://example.com/docs) and `code`.\n\n- [x] done\n\n" +
		"<details><summary>Slowest tests</summary>\n\n1. test_big\n</details>\n"
	got := string(r.Render(src))
	for _, want := range []string{
		"<h2>Coverage</h2>", "<table>", `<th align="left">file</th>`, "<td", "93%",
		`<code class="language-python">`, "print(&#39;hi&#39;)",
		`href="https://example.com/docs"`, `rel="nofollow noreferrer noopener"`, `target="_blank"`,
		`<td align="right">93%</td>`, "<code>code</code>", `type="checkbox"`, "<details><summary>Slowest tests</summary>", "<li>test_big</li>",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("rendered HTML lacks %q:\n%s", want, got)
		}
	}
}

// Hostile summaries: whatever a job writes to GITHUB_STEP_SUMMARY must not
// run script, load anything or escape the summary's box. Each case would
// fail without the sanitizing policy (goldmark alone keeps javascript:
// links in some forms and every attribute a raw-HTML renderer passes).
func TestRenderRefusesInjection(t *testing.T) {
	r := New()
	cases := map[string]string{
		"script tag":          "<script>alert(1)</script>",
		"img onerror":         `<img src=x onerror="alert(1)">`,
		"javascript link":     "[click](javascript:alert(1))",
		"javascript autolink": "<javascript:alert(1)>",
		"data link":           "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
		"iframe":              `<iframe src="https://evil.example"></iframe>`,
		"style":               "<style>body{display:none}</style>",
		"form":                `<form action="https://evil.example"><button>go</button></form>`,
		"svg":                 `<svg onload="alert(1)"></svg>`,
		"entity-encoded js":   "[x](&#106;avascript:alert(1))",
		"image tracker":       "![t](https://evil.example/pixel.png)",
		"inline handler html": `<a href="https://ok.example" onclick="alert(1)">x</a>`,
		"table cell handler":  "| a |\n|---|\n| <span onmouseover=alert(1)>b</span> |",
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			out := string(r.Render(src))
			for _, bad := range hostile(t, out) {
				t.Errorf("rendered %q keeps %s: %s", src, bad, out)
			}
		})
	}
}

// hostile lists what in out could run, load or submit something.
func hostile(t testing.TB, out string) []string {
	doc, err := html.Parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "script", "img", "iframe", "style", "form", "svg", "button", "object", "embed", "link", "meta", "base":
				found = append(found, "<"+n.Data+">")
			}
			for _, a := range n.Attr {
				v := strings.ToLower(strings.TrimSpace(a.Val))
				if strings.HasPrefix(a.Key, "on") || a.Key == "src" || a.Key == "srcset" || a.Key == "formaction" ||
					strings.HasPrefix(v, "javascript:") || strings.HasPrefix(v, "data:") || strings.HasPrefix(v, "vbscript:") {
					found = append(found, a.Key+"="+a.Val)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return found
}

func TestRenderBoundsInput(t *testing.T) {
	r := New()
	out := string(r.Render(strings.Repeat("a", MaxInput+10)))
	if !strings.Contains(out, "cut at 1024 KiB") {
		t.Errorf("an oversized summary is not marked as cut: %.200s…", out)
	}
}

func FuzzRender(f *testing.F) {
	f.Add("# t\n\n<script>x</script>[a](javascript:b)")
	f.Add("| a | b |\n|---|---|\n| `c` | <img src=x onerror=y> |")
	f.Add(strings.Repeat(">", 200) + " deep")
	r := New()
	f.Fuzz(func(t *testing.T, src string) {
		out := string(r.Render(src))
		if bad := hostile(t, out); len(bad) > 0 {
			t.Fatalf("rendered %q keeps %v: %s", src, bad, out)
		}
	})
}
