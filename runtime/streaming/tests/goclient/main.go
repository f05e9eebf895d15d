// Command goclient drives the Rust streaming server with client-go's real
// SPDY and WebSocket clients (the reference implementation). It is used by
// runtime/streaming/tests/goclient.rs.
//
//	goclient capture                      hex of a SYN_STREAM header block (streamtype: stdout)
//	goclient exec|wsexec URL [tty]        stdin → remote; remote stdout/stderr → ours; last stderr line RESULT ...
//	goclient portforward|wsportforward URL PORT MESSAGE
package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/moby/spdystream/spdy"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	spdytransport "k8s.io/client-go/transport/spdy"
	"k8s.io/client-go/util/exec"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: goclient capture|exec|wsexec|portforward|wsportforward ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "capture":
		err = capture()
	case "exec", "wsexec":
		err = runExec(os.Args[1] == "wsexec", os.Args[2], len(os.Args) > 3 && os.Args[3] == "tty")
	case "portforward", "wsportforward":
		err = runPortForward(os.Args[1] == "wsportforward", os.Args[2], os.Args[3], os.Args[4])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "FATAL", err)
		os.Exit(1)
	}
}

func capture() error {
	var buf bytes.Buffer
	fr, err := spdy.NewFramer(&buf, &buf)
	if err != nil {
		return err
	}
	for i, v := range []string{"stdout", "error"} {
		buf.Reset()
		f := &spdy.SynStreamFrame{StreamId: spdy.StreamId(2*i + 1), Headers: http.Header{"Streamtype": {v}}}
		if err := fr.WriteFrame(f); err != nil {
			return err
		}
		// 8-byte frame header, stream id, associated id, priority+slot.
		fmt.Println(hex.EncodeToString(buf.Bytes()[18:]))
	}
	return nil
}

func runExec(ws bool, rawURL string, tty bool) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	cfg := &rest.Config{}
	var ex remotecommand.Executor
	if ws {
		ex, err = remotecommand.NewWebSocketExecutor(cfg, "GET", rawURL)
	} else {
		ex, err = remotecommand.NewSPDYExecutor(cfg, "POST", u)
	}
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts := remotecommand.StreamOptions{Stdin: os.Stdin, Stdout: os.Stdout, Tty: tty}
	if !tty {
		opts.Stderr = os.Stderr
	}
	err = ex.StreamWithContext(ctx, opts)
	var exitErr exec.ExitError
	switch {
	case err == nil:
		fmt.Fprintln(os.Stderr, "RESULT exit=0")
	case errors.As(err, &exitErr):
		fmt.Fprintf(os.Stderr, "RESULT exit=%d\n", exitErr.ExitStatus())
	default:
		fmt.Fprintf(os.Stderr, "RESULT error=%v\n", err)
	}
	return nil
}

func runPortForward(ws bool, rawURL, port, message string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	cfg := &rest.Config{}
	var pf *portforward.PortForwarder
	stop := make(chan struct{})
	ready := make(chan struct{})
	if ws {
		d, err := portforward.NewSPDYOverWebsocketDialer(u, cfg)
		if err != nil {
			return err
		}
		pf, err = portforward.New(d, []string{"0:" + port}, stop, ready, os.Stderr, os.Stderr)
		if err != nil {
			return err
		}
	} else {
		tr, up, err := spdytransport.RoundTripperFor(cfg)
		if err != nil {
			return err
		}
		d := spdytransport.NewDialer(up, &http.Client{Transport: tr}, "POST", u)
		pf, err = portforward.New(d, []string{"0:" + port}, stop, ready, os.Stderr, os.Stderr)
		if err != nil {
			return err
		}
	}
	errCh := make(chan error, 1)
	go func() { errCh <- pf.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-errCh:
		return fmt.Errorf("forwarding failed before ready: %w", err)
	case <-time.After(20 * time.Second):
		return errors.New("timed out waiting for port-forward to be ready")
	}
	ports, err := pf.GetPorts()
	if err != nil {
		return err
	}
	for round := 0; round < 2; round++ {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ports[0].Local))
		if err != nil {
			return err
		}
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		msg := fmt.Sprintf("%s-%d", message, round)
		if _, err := c.Write([]byte(msg)); err != nil {
			return err
		}
		_ = c.(*net.TCPConn).CloseWrite()
		got, err := io.ReadAll(c)
		_ = c.Close()
		if err != nil {
			return err
		}
		fmt.Println(string(got))
	}
	close(stop)
	select {
	case <-errCh:
	case <-time.After(5 * time.Second):
	}
	return nil
}
