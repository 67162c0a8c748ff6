package keys

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// jsonLines pretty-prints JSON with a two-space indent, one scalar, key or
// bracket per line (as jq does), keeping the key order and the number
// literals of the input. Strings are re-quoted so that nothing unsafe
// reaches the terminal: controls, bidi controls and the other characters
// Escape escapes become \uHHHH (still valid JSON); bytes that are not UTF-8
// become \xHH. With strict (the automatic chain) only objects, arrays and
// strings in valid UTF-8 are accepted.
func jsonLines(b []byte, strict bool) ([]string, error) {
	if strict && !looksJSON(b) {
		return nil, errors.New("not a JSON object, array or string")
	}
	if !json.Valid(b) {
		var raw json.RawMessage
		if err := json.Unmarshal(b, &raw); err != nil {
			return nil, err
		}
		return nil, errors.New("invalid JSON")
	}
	p := jsonPrinter{dec: json.NewDecoder(bytes.NewReader(b)), sink: newSink(0)}
	p.dec.UseNumber()
	tok, err := p.dec.Token()
	if err != nil {
		return nil, err
	}
	if err := p.value(0, nil, tok); err != nil {
		return nil, err
	}
	return p.sink.result(), nil
}

type jsonPrinter struct {
	dec  *json.Decoder
	sink *lineSink
	buf  []byte
}

// value prints the value that starts with tok at the given depth, after the
// prefix (a key), followed by a comma when its container has more.
func (p *jsonPrinter) value(depth int, prefix []byte, tok json.Token) error {
	open, ok := tok.(json.Delim)
	if !ok {
		p.line(depth, prefix, p.scalar(tok), true)
		return nil
	}
	close := "]"
	if open == '{' {
		close = "}"
	}
	if !p.dec.More() {
		if _, err := p.dec.Token(); err != nil {
			return err
		}
		p.line(depth, prefix, string(open)+close, true)
		return nil
	}
	p.line(depth, prefix, string(open), false)
	for p.dec.More() {
		var key []byte
		if open == '{' {
			k, err := p.dec.Token()
			if err != nil {
				return err
			}
			if p.sink.keeping() {
				s, _ := k.(string)
				key = append(appendJSONQuote(nil, s), ':', ' ')
			}
		}
		t, err := p.dec.Token()
		if err != nil {
			return err
		}
		if err := p.value(depth+1, key, t); err != nil {
			return err
		}
	}
	if _, err := p.dec.Token(); err != nil && err != io.EOF {
		return err
	}
	p.line(depth, nil, close, true)
	return nil
}

func (p *jsonPrinter) scalar(tok json.Token) string {
	if !p.sink.keeping() {
		return ""
	}
	switch t := tok.(type) {
	case string:
		return string(appendJSONQuote(nil, t))
	case json.Number:
		return string(t)
	case bool:
		if t {
			return "true"
		}
		return "false"
	}
	return "null"
}

// line adds one line; withComma adds a comma when the enclosing container
// has another element.
func (p *jsonPrinter) line(depth int, prefix []byte, s string, withComma bool) {
	if !p.sink.keeping() {
		p.sink.add("")
		return
	}
	p.buf = append(p.buf[:0], lineIndent(depth)...)
	p.buf = append(p.buf, prefix...)
	p.buf = append(p.buf, s...)
	if withComma && depth > 0 && p.dec.More() {
		p.buf = append(p.buf, ',')
	}
	p.sink.add(string(p.buf))
}
