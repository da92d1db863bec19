package fs

// A small parser for LVM2's text metadata format (the lvm.conf syntax):
//
//	name { key = value ... subsection { ... } }
//
// with values being "strings" (backslash escapes), integers, or arrays
// [v, v, ...] of those. The text comes from an untrusted disk, so its
// size, nesting depth and token count are bounded.

import (
	"fmt"
	"strconv"
	"strings"
)

const (
	lvmMaxText   = 8 << 20 // LVM's own metadata areas default to 1 MiB
	lvmMaxDepth  = 32
	lvmMaxTokens = 2 << 20
)

type lvmValue struct {
	str   string
	num   int64
	isNum bool
	arr   []lvmValue
	isArr bool
}

type lvmSection struct {
	name     string
	values   map[string]lvmValue
	sections []*lvmSection
}

func (s *lvmSection) section(name string) *lvmSection {
	for _, c := range s.sections {
		if c.name == name {
			return c
		}
	}
	return nil
}

func (s *lvmSection) str(key string) (string, bool) {
	v, ok := s.values[key]
	if !ok || v.isNum || v.isArr {
		return "", false
	}
	return v.str, true
}

func (s *lvmSection) int(key string) (int64, bool) {
	v, ok := s.values[key]
	if !ok || !v.isNum {
		return 0, false
	}
	return v.num, true
}

// flags returns a string array value (status = ["READ", "WRITE"]).
func (s *lvmSection) flags(key string) map[string]bool {
	m := map[string]bool{}
	if v, ok := s.values[key]; ok && v.isArr {
		for _, e := range v.arr {
			if !e.isNum {
				m[e.str] = true
			}
		}
	}
	return m
}

type lvmTokKind int

const (
	tokEOF lvmTokKind = iota
	tokPunct
	tokString
	tokWord
)

type lvmLexer struct {
	s      string
	pos    int
	tokens int
}

func (l *lvmLexer) next() (lvmTokKind, string, error) {
	l.tokens++
	if l.tokens > lvmMaxTokens {
		return 0, "", corruptf("LVM metadata has too many tokens")
	}
	for l.pos < len(l.s) {
		c := l.s[l.pos]
		if c == '#' {
			for l.pos < len(l.s) && l.s[l.pos] != '\n' {
				l.pos++
			}
			continue
		}
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0 {
			l.pos++
			continue
		}
		break
	}
	if l.pos >= len(l.s) {
		return tokEOF, "", nil
	}
	c := l.s[l.pos]
	switch {
	case strings.IndexByte("{}[]=,", c) >= 0:
		l.pos++
		return tokPunct, string(c), nil
	case c == '"':
		var b strings.Builder
		for i := l.pos + 1; i < len(l.s); i++ {
			switch l.s[i] {
			case '\\':
				if i+1 < len(l.s) {
					i++
					b.WriteByte(l.s[i])
				}
			case '"':
				l.pos = i + 1
				return tokString, b.String(), nil
			default:
				b.WriteByte(l.s[i])
			}
		}
		return 0, "", corruptf("LVM metadata: unterminated string")
	}
	start := l.pos
	for l.pos < len(l.s) && strings.IndexByte("{}[]=,\"# \t\r\n\x00", l.s[l.pos]) < 0 {
		l.pos++
	}
	return tokWord, l.s[start:l.pos], nil
}

// parseLVMConfig parses metadata text into a root section.
func parseLVMConfig(text string) (*lvmSection, error) {
	if len(text) > lvmMaxText {
		return nil, corruptf("LVM metadata text of %d bytes is too large", len(text))
	}
	p := &lvmLexer{s: text}
	root := &lvmSection{values: map[string]lvmValue{}}
	if err := parseLVMItems(p, root, 0); err != nil {
		return nil, err
	}
	return root, nil
}

// parseLVMItems reads items into sec until '}' (depth > 0) or EOF.
func parseLVMItems(p *lvmLexer, sec *lvmSection, depth int) error {
	if depth > lvmMaxDepth {
		return corruptf("LVM metadata nested too deeply")
	}
	for {
		kind, tok, err := p.next()
		if err != nil {
			return err
		}
		switch {
		case kind == tokEOF:
			if depth > 0 {
				return corruptf("LVM metadata: unterminated section %q", sec.name)
			}
			return nil
		case kind == tokPunct && tok == "}":
			if depth == 0 {
				return corruptf("LVM metadata: unbalanced '}'")
			}
			return nil
		case kind != tokWord && kind != tokString:
			return corruptf("LVM metadata: unexpected %q", tok)
		}
		name := tok
		kind, tok, err = p.next()
		if err != nil {
			return err
		}
		switch {
		case kind == tokPunct && tok == "{":
			child := &lvmSection{name: name, values: map[string]lvmValue{}}
			sec.sections = append(sec.sections, child)
			if err := parseLVMItems(p, child, depth+1); err != nil {
				return err
			}
		case kind == tokPunct && tok == "=":
			v, err := parseLVMValue(p, true)
			if err != nil {
				return fmt.Errorf("key %q: %w", name, err)
			}
			if _, dup := sec.values[name]; !dup {
				sec.values[name] = v
			}
		default:
			return corruptf("LVM metadata: expected '=' or '{' after %q", name)
		}
	}
}

func parseLVMValue(p *lvmLexer, allowArray bool) (lvmValue, error) {
	kind, tok, err := p.next()
	if err != nil {
		return lvmValue{}, err
	}
	switch kind {
	case tokString:
		return lvmValue{str: tok}, nil
	case tokWord:
		if n, err := strconv.ParseInt(tok, 0, 64); err == nil {
			return lvmValue{num: n, isNum: true}, nil
		}
		return lvmValue{str: tok}, nil // floats and bare words: keep the text
	case tokPunct:
		if tok != "[" || !allowArray {
			break
		}
		arr := lvmValue{isArr: true}
		for {
			kind, tok, err := p.peekPunct()
			if err != nil {
				return lvmValue{}, err
			}
			if kind == tokPunct && tok == "]" {
				p.next()
				return arr, nil
			}
			if len(arr.arr) > 0 {
				if kind != tokPunct || tok != "," {
					return lvmValue{}, corruptf("LVM metadata: expected ',' in array")
				}
				p.next()
			}
			v, err := parseLVMValue(p, false)
			if err != nil {
				return lvmValue{}, err
			}
			arr.arr = append(arr.arr, v)
		}
	}
	return lvmValue{}, corruptf("LVM metadata: unexpected %q in value", tok)
}

// peekPunct returns the next token without consuming it.
func (l *lvmLexer) peekPunct() (lvmTokKind, string, error) {
	save, saveTok := l.pos, l.tokens
	kind, tok, err := l.next()
	l.pos, l.tokens = save, saveTok
	return kind, tok, err
}
