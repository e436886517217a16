package lsp

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
)

// This file is the base protocol: JSON-RPC 2.0 messages framed by a
// Content-Length header, read from one stream and written to another.
// The LSP types and the dispatch of methods to typed handlers are glsp's
// (docs/editors.md says why); the stdio loop is this small one, so that
// glsp's server package, its logging and websocket dependencies, stay out.

// maxMessage bounds one message: a document's full text with JSON
// escaping fits with room to spare (lang.MaxSourceSize is 16 MB).
const maxMessage = 64 << 20

// JSON-RPC error codes.
const (
	codeParseError     = -32700
	codeInvalidRequest = -32600
	codeMethodNotFound = -32601
	codeInvalidParams  = -32602
	codeInternalError  = -32603
	codeNotInitialized = -32002
	codeRequestFailed  = -32803 // a valid request that cannot be done, such as formatting a file that does not parse
)

// message is any JSON-RPC message: a request (ID and Method), a
// notification (Method only) or a response (ID with Result or Error).
type message struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

// rpcError is the error of a response.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// response is a response to a request: the result is always present
// (null when there is none) unless there is an error.
type response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

// notification is a message from the server that expects no answer.
type notification struct {
	JSONRPC string `json:"jsonrpc"`
	Method  string `json:"method"`
	Params  any    `json:"params"`
}

// conn reads framed messages from r and writes them to w; writes may come
// from several goroutines (responses and debounced diagnostics).
type conn struct {
	r     *bufio.Reader
	limit int64 // the largest message read (maxMessage)
	wmu   sync.Mutex
	w     io.Writer
}

func newConn(r io.Reader, w io.Writer) *conn {
	return &conn{r: bufio.NewReader(r), w: w, limit: maxMessage}
}

// errFraming is a header the stream cannot be read past.
var errFraming = errors.New("bad message header")

// read returns the body of the next message. A body that is too large
// is skipped and reported as an error that still lets the caller read on;
// a broken header ends the stream (errFraming).
func (c *conn) read() ([]byte, error) {
	tp := textproto.NewReader(c.r)
	h, err := tp.ReadMIMEHeader()
	if err != nil {
		if errors.Is(err, io.EOF) && len(h) == 0 {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("%w: %v", errFraming, err)
	}
	v := strings.TrimSpace(h.Get("Content-Length"))
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("%w: Content-Length %q", errFraming, v)
	}
	if n > c.limit {
		if _, err := io.CopyN(io.Discard, c.r, n); err != nil {
			return nil, fmt.Errorf("%w: %v", errFraming, err)
		}
		return nil, fmt.Errorf("message of %d bytes is larger than the limit of %d", n, c.limit)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return nil, fmt.Errorf("%w: %v", errFraming, err)
	}
	return body, nil
}

// write sends one message.
func (c *conn) write(v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding a message: %w", err)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := fmt.Fprintf(c.w, "Content-Length: %d\r\n\r\n", len(body)); err != nil {
		return err
	}
	_, err = c.w.Write(body)
	return err
}

// notify sends a notification.
func (c *conn) notify(method string, params any) error {
	return c.write(notification{JSONRPC: "2.0", Method: method, Params: params})
}

// reply sends the response to the request id: result, or err when it is
// not nil.
func (c *conn) reply(id json.RawMessage, result any, rerr *rpcError) error {
	resp := response{JSONRPC: "2.0", ID: id, Error: rerr}
	if rerr == nil {
		b, err := json.Marshal(result)
		if err != nil {
			resp.Error = &rpcError{Code: codeInternalError, Message: fmt.Sprintf("encoding the result: %v", err)}
		} else {
			resp.Result = b
		}
	}
	return c.write(resp)
}
