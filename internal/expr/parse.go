package expr

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/rhysd/actionlint"
)

// We use actionlint's lexer but our own parser: actionlint's parser makes all comparison operators
// one right-associative precedence level (so `1 < 2 == true` parses as `1 < (2 == true)`) and
// rejects integer literals outside 32 bits. GitHub has `<`/`<=`/`>`/`>=` binding tighter than
// `==`/`!=`, all left-associative.

// maxDepth and maxLength are GitHub's own limits on an expression.
const (
	maxDepth  = 50
	maxLength = 21000
)

type node interface{ pos() int }

type literal struct {
	val any
	at  int
}

// contextRef is a top-level named value such as `github`; name is lower-cased.
type contextRef struct {
	name string
	at   int
}

// index covers `a.b`, `a['b']`, `a[0]`, `a.*` and `a[*]` (star set, key nil).
type index struct {
	recv node
	key  node
	star bool
}

type notOp struct {
	x  node
	at int
}

type compareOp struct {
	op   actionlint.TokenKind
	l, r node
}

type logicalOp struct {
	and  bool
	args []node
}

type call struct {
	name string // lower-cased
	args []node
	at   int
}

func (n *literal) pos() int    { return n.at }
func (n *contextRef) pos() int { return n.at }
func (n *index) pos() int      { return n.recv.pos() }
func (n *notOp) pos() int      { return n.at }
func (n *compareOp) pos() int  { return n.l.pos() }
func (n *logicalOp) pos() int  { return n.args[0].pos() }
func (n *call) pos() int       { return n.at }

// posError is an error at a byte offset of the expression; column is offset+1.
type posError struct {
	msg    string
	offset int
	limit  bool // one of GitHub's limits on an expression, which linters do not check
}

func (e *posError) Error() string { return fmt.Sprintf("%s at column %d", e.msg, e.offset+1) }

type parser struct {
	src   string
	lex   *actionlint.ExprLexer
	cur   *actionlint.Token
	err   error
	depth int
}

// parse parses a bare expression (no ${{ }}) into our tree.
func parse(src string) (node, error) {
	if len(src) > maxLength {
		return nil, &posError{msg: fmt.Sprintf("expression is longer than %d characters", maxLength), offset: 0, limit: true}
	}
	// The lexer needs the `}}` end marker; a `}}` inside src shows up as an early end token.
	p := &parser{src: src, lex: actionlint.NewExprLexer(src + "}}")}
	p.next()
	if p.err == nil && p.cur.Kind == actionlint.TokenKindEnd {
		p.fail("expected an expression", p.cur.Offset)
	}
	n := p.parseOr()
	if p.err != nil {
		return nil, p.err
	}
	if p.cur.Kind != actionlint.TokenKindEnd {
		return nil, &posError{msg: fmt.Sprintf("unexpected %s", describe(p.cur)), offset: p.cur.Offset}
	}
	if p.cur.Offset < len(src) {
		return nil, &posError{msg: "unexpected '}}'", offset: p.cur.Offset}
	}
	return n, nil
}

func describe(t *actionlint.Token) string {
	if t.Kind == actionlint.TokenKindEnd {
		return "end of input"
	}
	return fmt.Sprintf("%q", t.Value)
}

func (p *parser) fail(msg string, offset int) {
	if p.err == nil {
		if offset > len(p.src) {
			offset = len(p.src)
		}
		p.err = &posError{msg: msg, offset: offset}
	}
}

func (p *parser) next() *actionlint.Token {
	prev := p.cur
	p.cur = p.lex.Next()
	if err := p.lex.Err(); err != nil {
		msg := err.Message
		// Keep the lexer's complaint, not its long list of every character it would accept.
		if i := strings.Index(msg, ", expecting 'a'..'z'"); i >= 0 {
			msg = msg[:i]
		}
		if strings.Contains(msg, "unexpected EOF") {
			msg = "unexpected end of input (" + msg + ")"
		}
		p.fail(msg, err.Offset)
		// Freeze on an end token so parsing stops quickly.
		p.cur = &actionlint.Token{Kind: actionlint.TokenKindEnd, Offset: err.Offset}
	}
	return prev
}

func (p *parser) unexpected(what string) {
	p.fail(fmt.Sprintf("unexpected %s while parsing %s", describe(p.cur), what), p.cur.Offset)
}

func (p *parser) enter() bool {
	p.depth++
	if p.depth > maxDepth {
		if p.err == nil {
			p.err = &posError{msg: fmt.Sprintf("exceeded max expression depth %d", maxDepth), offset: min(p.cur.Offset, len(p.src)), limit: true}
		}
		return false
	}
	return true
}

func (p *parser) leave() { p.depth-- }

func (p *parser) parseOr() node {
	if !p.enter() {
		return nil
	}
	defer p.leave()
	return p.parseLogical(actionlint.TokenKindOr, p.parseAnd)
}

func (p *parser) parseAnd() node { return p.parseLogical(actionlint.TokenKindAnd, p.parseEquality) }

// parseLogical builds one n-ary node for a chain so long chains do not count as depth.
func (p *parser) parseLogical(op actionlint.TokenKind, operand func() node) node {
	first := operand()
	if p.err != nil || p.cur.Kind != op {
		return first
	}
	n := &logicalOp{and: op == actionlint.TokenKindAnd, args: []node{first}}
	for p.err == nil && p.cur.Kind == op {
		p.next()
		n.args = append(n.args, operand())
	}
	return n
}

func (p *parser) parseEquality() node {
	l := p.parseRelational()
	for p.err == nil && (p.cur.Kind == actionlint.TokenKindEq || p.cur.Kind == actionlint.TokenKindNotEq) {
		op := p.next().Kind
		l = &compareOp{op: op, l: l, r: p.parseRelational()}
	}
	return l
}

func (p *parser) parseRelational() node {
	l := p.parseUnary()
	for p.err == nil {
		switch p.cur.Kind {
		case actionlint.TokenKindLess, actionlint.TokenKindLessEq, actionlint.TokenKindGreater, actionlint.TokenKindGreaterEq:
			op := p.next().Kind
			l = &compareOp{op: op, l: l, r: p.parseUnary()}
		default:
			return l
		}
	}
	return l
}

func (p *parser) parseUnary() node {
	if p.cur.Kind != actionlint.TokenKindNot {
		return p.parsePostfix()
	}
	if !p.enter() {
		return nil
	}
	defer p.leave()
	t := p.next()
	return &notOp{x: p.parseUnary(), at: t.Offset}
}

func (p *parser) parsePostfix() node {
	n := p.parsePrimary()
	for p.err == nil {
		switch p.cur.Kind {
		case actionlint.TokenKindDot:
			p.next()
			switch p.cur.Kind {
			case actionlint.TokenKindStar:
				p.next()
				n = &index{recv: n, star: true}
			case actionlint.TokenKindIdent:
				t := p.next()
				n = &index{recv: n, key: &literal{val: t.Value, at: t.Offset}}
			default:
				p.unexpected("a property name after '.'")
				return nil
			}
		case actionlint.TokenKindLeftBracket:
			p.next()
			if p.cur.Kind == actionlint.TokenKindStar {
				p.next()
				n = &index{recv: n, star: true}
			} else {
				n = &index{recv: n, key: p.parseOr()}
			}
			if p.err != nil {
				return nil
			}
			if p.cur.Kind != actionlint.TokenKindRightBracket {
				p.unexpected("an index, expecting ']'")
				return nil
			}
			p.next()
		default:
			return n
		}
	}
	return nil
}

func (p *parser) parsePrimary() node {
	t := p.cur
	switch t.Kind {
	case actionlint.TokenKindIdent:
		p.next()
		if p.cur.Kind == actionlint.TokenKindLeftParen {
			return p.parseCall(t)
		}
		switch t.Value {
		case "null":
			return &literal{val: nil, at: t.Offset}
		case "true":
			return &literal{val: true, at: t.Offset}
		case "false":
			return &literal{val: false, at: t.Offset}
		}
		name := strings.ToLower(t.Value)
		if !knownContext(name) {
			p.fail(fmt.Sprintf("unrecognized named-value %q", t.Value), t.Offset)
			return nil
		}
		return &contextRef{name: name, at: t.Offset}
	case actionlint.TokenKindInt, actionlint.TokenKindFloat:
		p.next()
		f, err := parseNumberLiteral(t.Value)
		if err != nil {
			p.fail(fmt.Sprintf("invalid number %q", t.Value), t.Offset)
			return nil
		}
		return &literal{val: f, at: t.Offset}
	case actionlint.TokenKindString:
		p.next()
		s := t.Value[1 : len(t.Value)-1]
		return &literal{val: strings.ReplaceAll(s, "''", "'"), at: t.Offset}
	case actionlint.TokenKindLeftParen:
		p.next()
		n := p.parseOr()
		if p.err != nil {
			return nil
		}
		if p.cur.Kind != actionlint.TokenKindRightParen {
			p.unexpected("a group, expecting ')'")
			return nil
		}
		p.next()
		return n
	default:
		p.unexpected("an expression")
		return nil
	}
}

func (p *parser) parseCall(name *actionlint.Token) node {
	p.next() // (
	c := &call{name: strings.ToLower(name.Value), at: name.Offset}
	if p.cur.Kind == actionlint.TokenKindRightParen {
		p.next()
	} else {
		for p.err == nil {
			c.args = append(c.args, p.parseOr())
			if p.err != nil {
				return nil
			}
			if p.cur.Kind == actionlint.TokenKindComma {
				p.next()
				continue
			}
			if p.cur.Kind != actionlint.TokenKindRightParen {
				p.unexpected(fmt.Sprintf("arguments of %s(), expecting ',' or ')'", name.Value))
				return nil
			}
			p.next()
			break
		}
	}
	if p.err != nil {
		return nil
	}
	f, ok := lookupFunc(c.name)
	if !ok {
		p.fail(fmt.Sprintf("unrecognized function %q", name.Value), name.Offset)
		return nil
	}
	if len(c.args) < f.min || (f.max >= 0 && len(c.args) > f.max) {
		p.fail(fmt.Sprintf("%s() takes %s, got %d", f.name, arity(f.min, f.max), len(c.args)), name.Offset)
		return nil
	}
	return c
}

func arity(lo, hi int) string {
	plural := func(n int) string {
		if n == 1 {
			return "1 argument"
		}
		return fmt.Sprintf("%d arguments", n)
	}
	switch {
	case lo == hi:
		return plural(lo)
	case hi < 0:
		return "at least " + plural(lo)
	default:
		return fmt.Sprintf("%d to %d arguments", lo, hi)
	}
}

// parseNumberLiteral reads the lexer's number tokens: decimal, hex (0x..) and exponent forms, of any
// size (GitHub numbers are doubles).
func parseNumberLiteral(s string) (float64, error) {
	neg := strings.HasPrefix(s, "-")
	body := strings.TrimPrefix(s, "-")
	var f float64
	if strings.HasPrefix(body, "0x") {
		u, err := strconv.ParseUint(body[2:], 16, 64)
		if err != nil {
			return 0, err
		}
		f = float64(u)
	} else {
		v, err := strconv.ParseFloat(body, 64)
		if err != nil && !math.IsInf(v, 0) {
			return 0, err
		}
		f = v
	}
	if neg {
		f = -f
	}
	return f, nil
}
