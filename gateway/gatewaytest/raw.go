package gatewaytest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RawResponse is what the gateway answered to a raw request.
type RawResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// Raw sends req — the exact bytes of an HTTP/1.1 request — over a fresh
// mutual-TLS connection as agency (no client certificate when agency is
// empty) and reads one response. Go's HTTP client normalises what it
// sends (header canonicalisation, one Authorization header, clean paths,
// valid bytes only), so hostile input is tested this way. Each call uses
// its own connection, which the request should close ("Connection: close").
func (e *Env) Raw(agency string, req []byte) (*RawResponse, error) {
	e.T.Helper()
	cfg, err := e.Fed.ClientTLSConfig(e.Fed.Agencies[0], "localhost")
	if err != nil {
		return nil, err
	}
	if agency != "" {
		if cfg, err = e.Fed.ClientTLSConfig(agency, "localhost"); err != nil {
			return nil, err
		}
	} else {
		cfg.Certificates = nil
	}
	cfg.NextProtos = []string{"http/1.1"}
	host := strings.TrimPrefix(e.URL, "https://")
	d := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", host, cfg)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	// The request is written while the answer is read: a server may answer
	// a bad request before it has read the whole body and close, and the
	// rest of the write then fails with a reset although the answer came
	// (HTTP allows an early answer). Only no answer at all is an error.
	werr := make(chan error, 1)
	go func() {
		_, err := conn.Write(req)
		werr <- err
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		conn.Close()
		if we := <-werr; we != nil {
			return nil, fmt.Errorf("%w (writing the request: %v)", err, we)
		}
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	e.checkRaw(req, resp, body)
	return &RawResponse{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// RawRequest builds the bytes of an HTTP/1.1 request to the gateway: the
// request line as given, Host, the header lines as given (each "Name:
// value", written verbatim), Content-Length for a body, and Connection:
// close.
func (e *Env) RawRequest(method, target string, headers []string, body []byte) []byte {
	var b bytes.Buffer
	b.WriteString(method + " " + target + " HTTP/1.1\r\n")
	b.WriteString("Host: localhost\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	if body != nil {
		b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	b.WriteString("Connection: close\r\n\r\n")
	b.Write(body)
	return b.Bytes()
}
