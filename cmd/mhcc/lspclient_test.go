package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/textproto"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
)

// lspClient drives `mhcc lsp` (this test binary, which testscript.Main
// puts on PATH as mhcc) over its stdin and stdout, as an editor does. Its
// framing is written here independently of the server's.
type lspClient struct {
	t      *testing.T
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	nextID int
	// msgs receives every message the server writes, read by one
	// goroutine so that a test never blocks on a silent server.
	msgs chan lspMessage
	// exited is closed when the process has exited, with its error in
	// exitErr.
	exited  chan struct{}
	exitErr error
}

// lspMessage is any message from the server.
type lspMessage struct {
	ID     *int            `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// lspTimeout bounds the wait for one message (the server debounces
// diagnostics by 150 ms; a loaded machine is slower).
const lspTimeout = 60 * time.Second

func startLSP(t *testing.T) *lspClient {
	t.Helper()
	mhcc, err := exec.LookPath("mhcc")
	if err != nil {
		t.Fatalf("mhcc is not on PATH (testscript.Main puts it there): %v", err)
	}
	cmd := exec.Command(mhcc, "lsp")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &lspClient{t: t, cmd: cmd, in: in, out: bufio.NewReader(out), msgs: make(chan lspMessage, 64), exited: make(chan struct{})}
	go func() {
		c.readLoop()
		c.exitErr = cmd.Wait() // after the output is read to its end
		close(c.exited)
	}()
	t.Cleanup(func() {
		in.Close()
		select {
		case <-c.exited:
		case <-time.After(lspTimeout):
			_ = cmd.Process.Kill()
			t.Errorf("mhcc lsp did not exit when its stdin closed")
		}
		if s := stderr.String(); s != "" {
			t.Errorf("mhcc lsp wrote to stderr:\n%s", s)
		}
	})
	return c
}

// shutdown ends the session as an editor does, shutdown then exit, and
// checks that the server exits with 0.
func (c *lspClient) shutdown() {
	c.t.Helper()
	c.call("shutdown", nil, nil)
	c.notify("exit", nil)
	select {
	case <-c.exited:
		if c.exitErr != nil {
			c.t.Errorf("mhcc lsp after shutdown and exit: %v, want exit code 0", c.exitErr)
		}
	case <-time.After(lspTimeout):
		c.t.Fatal("mhcc lsp did not exit after exit")
	}
}

func (c *lspClient) readLoop() {
	defer close(c.msgs)
	for {
		h, err := textproto.NewReader(c.out).ReadMIMEHeader()
		if err != nil {
			return
		}
		n, err := strconv.Atoi(h.Get("Content-Length"))
		if err != nil {
			return
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(c.out, body); err != nil {
			return
		}
		var m lspMessage
		if err := json.Unmarshal(body, &m); err != nil {
			c.t.Errorf("the server wrote a message that is not JSON: %v\n%s", err, body)
			return
		}
		c.msgs <- m
	}
}

// write sends one framed message.
func (c *lspClient) write(v any) {
	c.t.Helper()
	body, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := fmt.Fprintf(c.in, "Content-Length: %d\r\n\r\n%s", len(body), body); err != nil {
		c.t.Fatal(err)
	}
}

// notify sends a notification.
func (c *lspClient) notify(method string, params any) {
	c.t.Helper()
	c.write(map[string]any{"jsonrpc": "2.0", "method": method, "params": params})
}

// next returns the next message from the server.
func (c *lspClient) next() lspMessage {
	c.t.Helper()
	select {
	case m, ok := <-c.msgs:
		if !ok {
			c.t.Fatal("the server closed its output")
		}
		return m
	case <-time.After(lspTimeout):
		c.t.Fatal("no message from the server")
	}
	panic("unreachable")
}

// request sends a request and returns its response; the notifications
// that come before it are passed to onNote (nil: the test fails on one).
func (c *lspClient) request(method string, params any, onNote func(lspMessage)) lspMessage {
	c.t.Helper()
	c.nextID++
	id := c.nextID
	c.write(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	for {
		m := c.next()
		if m.ID != nil && *m.ID == id && m.Method == "" {
			return m
		}
		if onNote == nil {
			c.t.Fatalf("unexpected message before the response to %s: %+v", method, m)
		}
		onNote(m)
	}
}

// call is request for a result: the test fails on an error response.
func (c *lspClient) call(method string, params any, result any) {
	c.t.Helper()
	m := c.request(method, params, nil)
	if m.Error != nil {
		c.t.Fatalf("%s: error %d: %s", method, m.Error.Code, m.Error.Message)
	}
	if result != nil {
		if err := json.Unmarshal(m.Result, result); err != nil {
			c.t.Fatalf("%s: %v\n%s", method, err, m.Result)
		}
	}
}

// lspDiagnostic is a published diagnostic, as the test reads it.
type lspDiagnostic struct {
	Range              lspRange `json:"range"`
	Severity           int      `json:"severity"`
	Message            string   `json:"message"`
	RelatedInformation []struct {
		Location struct {
			URI   string   `json:"uri"`
			Range lspRange `json:"range"`
		} `json:"location"`
		Message string `json:"message"`
	} `json:"relatedInformation"`
}

type lspPosition struct {
	Line      int `json:"line"`
	Character int `json:"character"`
}

type lspRange struct {
	Start lspPosition `json:"start"`
	End   lspPosition `json:"end"`
}

func (r lspRange) String() string {
	return fmt.Sprintf("%d:%d-%d:%d", r.Start.Line, r.Start.Character, r.End.Line, r.End.Character)
}

// diagnostics waits for the publishDiagnostics of version of uri,
// skipping any of older versions.
func (c *lspClient) diagnostics(uri string, version int) []lspDiagnostic {
	c.t.Helper()
	for {
		m := c.next()
		if m.Method != "textDocument/publishDiagnostics" {
			c.t.Fatalf("waiting for diagnostics, got %+v", m)
		}
		var p struct {
			URI         string          `json:"uri"`
			Version     int             `json:"version"`
			Diagnostics []lspDiagnostic `json:"diagnostics"`
		}
		if err := json.Unmarshal(m.Params, &p); err != nil {
			c.t.Fatal(err)
		}
		if p.URI == uri && p.Version == version {
			return p.Diagnostics
		}
	}
}

// initialize runs the handshake.
func (c *lspClient) initialize() {
	c.t.Helper()
	var res struct {
		Capabilities map[string]any `json:"capabilities"`
	}
	c.call("initialize", map[string]any{"processId": nil, "rootUri": nil, "capabilities": map[string]any{}}, &res)
	for _, cap := range []string{"hoverProvider", "completionProvider", "documentFormattingProvider", "definitionProvider", "textDocumentSync"} {
		if res.Capabilities[cap] == nil {
			c.t.Errorf("initialize: no %s in %v", cap, res.Capabilities)
		}
	}
	c.notify("initialized", map[string]any{})
}

func (c *lspClient) open(uri, text string) {
	c.t.Helper()
	c.notify("textDocument/didOpen", map[string]any{"textDocument": map[string]any{
		"uri": uri, "languageId": "mhc", "version": 1, "text": text}})
}

func (c *lspClient) change(uri string, version int, text string) {
	c.t.Helper()
	c.notify("textDocument/didChange", map[string]any{
		"textDocument":   map[string]any{"uri": uri, "version": version},
		"contentChanges": []any{map[string]any{"text": text}},
	})
}

// at is the params of a request at a position of uri.
func at(uri string, line, char int) map[string]any {
	return map[string]any{"textDocument": map[string]any{"uri": uri}, "position": map[string]any{"line": line, "character": char}}
}

// lockedBuffer is a bytes.Buffer safe for the writes of a process's
// output copier and the reads of the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
