package lsp

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tliron/glsp"
	protocol "github.com/tliron/glsp/protocol_3_16"
)

// frame frames one message body.
func frame(body string) string {
	return fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body)
}

// replies reads the framed messages in out.
func replies(t *testing.T, out []byte) []message {
	t.Helper()
	r := bufio.NewReader(bytes.NewReader(out))
	var msgs []message
	for {
		h, err := textproto.NewReader(r).ReadMIMEHeader()
		if err == io.EOF {
			return msgs
		}
		if err != nil {
			t.Fatalf("bad header in the output: %v\n%s", err, out)
		}
		n, _ := strconv.Atoi(h.Get("Content-Length"))
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			t.Fatal(err)
		}
		var m message
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
}

// TestProtocolErrors sends what a broken or hostile client might: each
// request gets one response with the right error code, notifications get
// none, a panic in a handler becomes an internal error, and the session
// goes on to exit.
func TestProtocolErrors(t *testing.T) {
	hover := `{"textDocument":{"uri":"file:///m.mhc"},"position":{"line":0,"character":0}}`
	in := strings.Join([]string{
		frame(`{"jsonrpc":"2.0","id":1,"method":"textDocument/hover","params":` + hover + `}`), // before initialize
		frame(`{"jsonrpc":"2.0","id":2,"method":"initialize","params":{"capabilities":{}}}`),
		frame(`{not json`),
		frame(`{"jsonrpc":"2.0","id":3,"method":"no/such/method"}`),
		frame(`{"jsonrpc":"2.0","method":"no/such/notification"}`),
		frame(`{"jsonrpc":"2.0","id":4,"method":"textDocument/hover","params":"a string"}`),
		frame(`{"jsonrpc":"2.0","method":"textDocument/didOpen","params":[1,2]}`),
		frame(`{"jsonrpc":"2.0","id":5,"method":"textDocument/hover","params":` + hover + `}`),              // not open: null
		frame(`{"jsonrpc":"2.0","id":6,"method":"textDocument/definition","params":` + hover + `}`),         // panics (below)
		frame(`{"jsonrpc":"2.0","id":10,"method":"shutdown","params":"` + strings.Repeat("x", 1000) + `"}`), // too large: skipped
		frame(`{"jsonrpc":"2.0","id":7,"method":"shutdown"}`),
		frame(`{"jsonrpc":"2.0","id":8,"method":"textDocument/hover","params":` + hover + `}`), // after shutdown
		frame(`{"jsonrpc":"2.0","method":"exit"}`),
		frame(`{"jsonrpc":"2.0","id":9,"method":"shutdown"}`), // after exit: not read
	}, "")
	var out, log bytes.Buffer
	s := newServer(newConn(strings.NewReader(in), &out), Options{Log: &log})
	s.handler.TextDocumentDefinition = func(_ *glsp.Context, p *protocol.DefinitionParams) (any, error) {
		var xs []string
		return xs[len(p.TextDocument.URI)], nil // a bug: an index out of range
	}
	s.conn.limit = 500
	if err := s.serve(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	want := []struct {
		id   string
		code int
	}{
		{"1", codeNotInitialized}, {"2", 0}, {"null", codeParseError}, {"3", codeMethodNotFound},
		{"4", codeInvalidParams}, {"5", 0}, {"6", codeInternalError}, {"7", 0}, {"8", codeInvalidRequest},
	}
	got := replies(t, out.Bytes())
	if len(got) != len(want) {
		t.Fatalf("%d responses, want %d:\n%s", len(got), len(want), out.String())
	}
	for i, w := range want {
		code := 0
		if got[i].Error != nil {
			code = got[i].Error.Code
		}
		if string(got[i].ID) != w.id || code != w.code {
			t.Errorf("response %d: id %s, error %d; want id %s, error %d", i, got[i].ID, code, w.id, w.code)
		}
	}
	for _, want := range []string{"index out of range", "larger than the limit of 500"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, log.String())
		}
	}
}

// syncBuffer is a bytes.Buffer for the writes of the server's timers and
// the reads of the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.b.Bytes())
}

// TestDebounce sends a burst of changes, well inside the debounce
// interval: only the last one's diagnostics are published, once, after
// those of the open.
func TestDebounce(t *testing.T) {
	var out syncBuffer
	s := newServer(newConn(strings.NewReader(""), &out), Options{Debounce: time.Second})
	defer s.closeAll()
	const uri = "file:///m.mhc"
	mustCall := func(method, params string) {
		t.Helper()
		if _, rerr := s.call(method, json.RawMessage(params)); rerr != nil {
			t.Fatalf("%s: %s", method, rerr.Message)
		}
	}
	mustCall("initialize", `{"capabilities":{}}`)
	mustCall("textDocument/didOpen", `{"textDocument":{"uri":"`+uri+`","languageId":"mhc","version":1,"text":"model m {"}}`)
	for v := 2; v <= 4; v++ {
		mustCall("textDocument/didChange", fmt.Sprintf(`{"textDocument":{"uri":"%s","version":%d},"contentChanges":[{"text":"model m { vocab %d }"}]}`, uri, v, v))
	}
	versions := func() []int {
		var vs []int
		for _, m := range replies(t, out.Bytes()) {
			var p struct{ Version int }
			if err := json.Unmarshal(m.Params, &p); err != nil {
				t.Fatal(err)
			}
			vs = append(vs, p.Version)
		}
		return vs
	}
	for deadline := time.Now().Add(30 * time.Second); !slices.Contains(versions(), 4); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no diagnostics of version 4; published: %v", versions())
		}
	}
	if vs := versions(); !slices.Equal(vs, []int{1, 4}) {
		t.Errorf("diagnostics published for versions %v, want [1 4]", vs)
	}
}

// TestExitCodes checks how a session ends: exit after shutdown is
// success, exit without it ErrNoShutdown (the protocol's exit code 1), the
// end of the input success, and a broken header an error.
func TestExitCodes(t *testing.T) {
	initialize := frame(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}`)
	shutdown := frame(`{"jsonrpc":"2.0","id":2,"method":"shutdown"}`)
	exit := frame(`{"jsonrpc":"2.0","method":"exit"}`)
	for _, c := range []struct {
		in   string
		want error
	}{
		{initialize + shutdown + exit, nil},
		{initialize + exit, ErrNoShutdown},
		{exit, ErrNoShutdown},
		{initialize, nil},
		{initialize + "Content-Length: x\r\n\r\n{}", errFraming},
		{initialize + "Content-Length: 10\r\n\r\n{}", errFraming},
	} {
		err := Serve(strings.NewReader(c.in), io.Discard, Options{})
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("Serve(%q) = %v, want %v", c.in, err, c.want)
		}
	}
}
