// Package lsp is mhcc's language server (`mhcc lsp`): the Language Server
// Protocol over a pair of streams, answering from the same lexer, schema,
// checker, formatter and analyses the command line uses. It publishes
// diagnostics of the unsaved text as it is typed, answers hover,
// completion, formatting and go-to-definition requests, and never takes
// the editor session down: a request that fails gets an error response.
package lsp

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync"
	"time"

	"github.com/tliron/glsp"
	protocol "github.com/tliron/glsp/protocol_3_16"
)

// Options configure a Server.
type Options struct {
	// Debounce is how long diagnostics wait after a change for the next
	// one, so that a burst of typing is checked once; 0 checks every
	// change at once.
	Debounce time.Duration
	// Version is the server version reported to the client.
	Version string
	// Log receives a line for every message the server cannot handle and
	// every recovered panic (nil: discarded).
	Log io.Writer
}

// DefaultDebounce is the debounce of `mhcc lsp`.
const DefaultDebounce = 150 * time.Millisecond

// Server is one session with one client.
type Server struct {
	opts    Options
	conn    *conn
	handler protocol.Handler

	mu       sync.Mutex // guards docs and the documents in it
	docs     map[string]*document
	shutdown bool // a shutdown request came: only exit is accepted
	exited   bool
}

// ErrNoShutdown is Serve's error when the client sent exit without
// shutdown first, for which the protocol asks the server to exit with 1.
var ErrNoShutdown = errors.New("exit without shutdown")

// Serve runs a session: it reads messages from r and writes to w until
// the client sends exit or r ends. The error is nil at the end of r or
// after shutdown and exit, ErrNoShutdown after an exit without shutdown,
// else what broke the stream.
func Serve(r io.Reader, w io.Writer, opts Options) error {
	return newServer(newConn(r, w), opts).serve()
}

// serve reads and handles messages until exit or the end of the input.
func (s *Server) serve() error {
	defer s.closeAll()
	for {
		body, err := s.conn.read()
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, errFraming):
			return err
		case err != nil:
			s.logf("%v", err) // a message too large: skipped
			continue
		}
		s.handleMessage(body)
		if exited, down := s.state(); exited {
			if !down {
				return ErrNoShutdown
			}
			return nil
		}
	}
}

func newServer(c *conn, opts Options) *Server {
	s := &Server{opts: opts, conn: c, docs: map[string]*document{}}
	s.handler = protocol.Handler{
		Initialize:  s.initialize,
		Initialized: func(*glsp.Context, *protocol.InitializedParams) error { return nil },
		Shutdown: func(*glsp.Context) error {
			s.mu.Lock()
			s.shutdown = true
			s.mu.Unlock()
			return nil
		},
		SetTrace:                        func(*glsp.Context, *protocol.SetTraceParams) error { return nil },
		CancelRequest:                   func(*glsp.Context, *protocol.CancelParams) error { return nil },
		WorkspaceDidChangeConfiguration: func(*glsp.Context, *protocol.DidChangeConfigurationParams) error { return nil },
		TextDocumentDidOpen:             s.didOpen,
		TextDocumentDidChange:           s.didChange,
		TextDocumentDidClose:            s.didClose,
		TextDocumentDidSave:             func(*glsp.Context, *protocol.DidSaveTextDocumentParams) error { return nil },
		TextDocumentHover:               s.hover,
		TextDocumentCompletion:          s.completion,
		TextDocumentFormatting:          s.formatting,
		TextDocumentDefinition:          s.definition,
	}
	return s
}

// state reports whether exit and shutdown came.
func (s *Server) state() (exited, shutdown bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exited, s.shutdown
}

func (s *Server) logf(format string, args ...any) {
	if s.opts.Log != nil {
		fmt.Fprintf(s.opts.Log, "mhcc lsp: "+format+"\n", args...)
	}
}

// handleMessage handles one message: a request gets exactly one response
// (an error one when its handler fails or panics), a notification none,
// and a response from the client is ignored.
func (s *Server) handleMessage(body []byte) {
	var m message
	if err := json.Unmarshal(body, &m); err != nil {
		s.logf("unreadable message: %v", err)
		_ = s.conn.reply(json.RawMessage("null"), nil, &rpcError{Code: codeParseError, Message: err.Error()})
		return
	}
	isRequest := len(m.ID) > 0 && string(m.ID) != "null"
	if m.Method == "" {
		if !isRequest {
			_ = s.conn.reply(json.RawMessage("null"), nil, &rpcError{Code: codeInvalidRequest, Message: "a message without a method"})
		}
		return // a response to a request of ours: there are none
	}
	result, rerr := s.call(m.Method, m.Params)
	if !isRequest {
		if rerr != nil && rerr.Code != codeMethodNotFound {
			s.logf("%s: %s", m.Method, rerr.Message)
		}
		return
	}
	if err := s.conn.reply(m.ID, result, rerr); err != nil {
		s.logf("writing the response to %s: %v", m.Method, err)
	}
}

// call runs the handler of method on params, recovering a panic into an
// error response.
func (s *Server) call(method string, params json.RawMessage) (result any, rerr *rpcError) {
	defer func() {
		if r := recover(); r != nil {
			s.logf("internal error in %s (a bug in mhcc, please report it): %v\n%s", method, r, debug.Stack())
			result, rerr = nil, &rpcError{Code: codeInternalError, Message: fmt.Sprintf("internal error (a bug in mhcc, please report it): %v", r)}
		}
	}()
	s.mu.Lock()
	down := s.shutdown
	if method == protocol.MethodExit {
		s.exited = true // also before initialize or shutdown
	}
	s.mu.Unlock()
	if method == protocol.MethodExit {
		return nil, nil
	}
	if down {
		return nil, &rpcError{Code: codeInvalidRequest, Message: "the server is shut down"}
	}
	if !s.handler.IsInitialized() && method != protocol.MethodInitialize {
		return nil, &rpcError{Code: codeNotInitialized, Message: "the server is not initialized"}
	}
	if len(params) == 0 {
		params = json.RawMessage("null")
	}
	ctx := &glsp.Context{
		Method: method,
		Params: params,
		Notify: func(method string, params any) { _ = s.conn.notify(method, params) },
		Call:   func(string, any, any) {},
	}
	r, validMethod, validParams, err := s.handler.Handle(ctx)
	switch {
	case !validMethod:
		return nil, &rpcError{Code: codeMethodNotFound, Message: "method not supported: " + method}
	case !validParams:
		return nil, &rpcError{Code: codeInvalidParams, Message: fmt.Sprintf("bad params of %s: %v", method, err)}
	case err != nil:
		return nil, &rpcError{Code: codeRequestFailed, Message: err.Error()}
	}
	return r, nil
}

// initialize answers the client's first request with what the server
// can do.
func (s *Server) initialize(*glsp.Context, *protocol.InitializeParams) (any, error) {
	version := s.opts.Version
	change := protocol.TextDocumentSyncKindFull
	yes := true
	return protocol.InitializeResult{
		Capabilities: protocol.ServerCapabilities{
			TextDocumentSync: protocol.TextDocumentSyncOptions{OpenClose: &yes, Change: &change},
			HoverProvider:    true,
			CompletionProvider: &protocol.CompletionOptions{
				TriggerCharacters: []string{"="}, // words trigger completion in editors anyway
			},
			DocumentFormattingProvider: true,
			DefinitionProvider:         true,
		},
		ServerInfo: &protocol.InitializeResultServerInfo{Name: "mhcc", Version: &version},
	}, nil
}
