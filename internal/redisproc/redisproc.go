// Package redisproc starts private redis-server processes: the demo's server
// and the servers the tests run against. A server listens on loopback or a
// unix socket, persists nothing, and dies with the process that started it.
package redisproc

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrNotInstalled is returned when no redis-server is on PATH.
var ErrNotInstalled = errors.New("redis-server not found on PATH " +
	"(install it: apt-get install redis-server on Debian/Ubuntu, brew install redis on macOS)")

// Options shape a server. The zero value is a TCP server on a free loopback
// port.
type Options struct {
	// Unix listens on a unix socket in the server's directory instead of TCP.
	Unix bool
	// Args are extra redis-server arguments, e.g. "--maxmemory", "64mb".
	Args []string
	// Stderr, when set, receives the server's log.
	Stderr *os.File
	// Password, when the Args set requirepass: the readiness check
	// authenticates first, so the server's errorstats start clean.
	Password string
	// TLS, when set, makes the server speak TLS only, on Port (not with
	// Unix).
	TLS *TLS
}

// Server is one running redis-server.
type Server struct {
	Dir    string // private working directory, removed by Stop
	Socket string // unix socket path when Options.Unix, else ""
	Port   int    // TCP port (the TLS port with Options.TLS), or 0 when Options.Unix

	cmd      *exec.Cmd
	password string
	tls      *tls.Config // how redisproc's own connections talk TLS; nil for plain
	stopOnce sync.Once
	done     chan struct{}
	waitErr  error
	ownsDir  bool
}

// Addr is the address for a go-redis client: host:port or the socket path.
func (s *Server) Addr() string {
	if s.Socket != "" {
		return s.Socket
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
}

// Network is "unix" or "tcp".
func (s *Server) Network() string {
	if s.Socket != "" {
		return "unix"
	}
	return "tcp"
}

// Binary returns the path of redis-server, or ErrNotInstalled.
func Binary() (string, error) {
	p, err := exec.LookPath("redis-server")
	if err != nil {
		return "", ErrNotInstalled
	}
	return p, nil
}

// Start launches redis-server and waits until it answers PING.
func Start(ctx context.Context, opt Options) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	return startInDir(ctx, "redtop-redis-", !opt.Unix, func(dir string) (*Server, error) {
		return start(ctx, bin, dir, opt)
	})
}

// startInDir makes a private directory and runs start in it, a few times
// when retry is set: a free port found by listening can be taken by
// someone else before redis-server binds it. The directory goes with the
// server, or is removed when no attempt succeeds.
func startInDir(ctx context.Context, prefix string, retry bool, start func(dir string) (*Server, error)) (*Server, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		s, err := start(dir)
		if err == nil {
			s.ownsDir = true
			return s, nil
		}
		lastErr = err
		if !retry || ctx.Err() != nil {
			break
		}
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

func start(ctx context.Context, bin, dir string, opt Options) (*Server, error) {
	s := &Server{Dir: dir, password: opt.Password}
	if opt.TLS != nil {
		if opt.Unix {
			return nil, errors.New("a TLS server needs TCP")
		}
		cfg, err := opt.TLS.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("TLS files: %w", err)
		}
		s.tls = cfg
	}
	args := []string{
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", dir,
		"--daemonize", "no",
		"--protected-mode", "yes",
		"--loglevel", "warning",
	}
	if opt.Unix {
		s.Socket = filepath.Join(dir, "redis.sock")
		args = append(args, "--port", "0", "--unixsocket", s.Socket, "--unixsocketperm", "700")
	} else {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s.Port = port
		if opt.TLS != nil {
			args = append(args, opt.TLS.args(port)...)
		} else {
			args = append(args, "--port", strconv.Itoa(port))
		}
	}
	args = append(args, opt.Args...)
	if err := s.run(ctx, exec.Command(bin, args...), opt.Stderr, "redis-server"); err != nil {
		return nil, err
	}
	return s, nil
}

// run starts cmd as the server's process, its log going to stderr or, when
// that is nil, to a buffer quoted if the server does not come up, and waits
// until the server answers PING.
func (s *Server) run(ctx context.Context, cmd *exec.Cmd, stderr *os.File, what string) error {
	var logBuf lockedBuffer
	if stderr != nil {
		cmd.Stdout, cmd.Stderr = stderr, stderr
	} else {
		cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	}
	if err := s.spawn(cmd); err != nil {
		return fmt.Errorf("start %s: %w", what, err)
	}
	if err := s.waitReady(ctx, 10*time.Second); err != nil {
		s.kill()
		return fmt.Errorf("%s did not start: %v: %s", what, err, strings.TrimSpace(logBuf.String()))
	}
	return nil
}

// spawn starts cmd in the server's directory, to die with this process,
// and records its exit in s.done and s.waitErr.
func (s *Server) spawn(cmd *exec.Cmd) error {
	cmd.Dir = s.Dir
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd = cmd
	done := make(chan struct{})
	s.done = done
	go func() {
		s.waitErr = cmd.Wait()
		close(done)
	}()
	return nil
}

// waitReady polls with a raw PING until the server answers.
func (s *Server) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-s.done:
			return fmt.Errorf("exited: %v", s.waitErr)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if err := ping(s.Network(), s.Addr(), s.password, s.tls); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ping speaks just enough RESP to see a server answer, over TLS when
// tlsConf is set. It may get -NOAUTH back when the server has a password
// and none was given; that still means ready (and counts one error in the
// server's errorstats).
func ping(network, addr, password string, tlsConf *tls.Config) error {
	c, err := net.DialTimeout(network, addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if tlsConf != nil {
		tc := tls.Client(c, tlsClientFor(tlsConf, addr))
		if err := tc.Handshake(); err != nil {
			return err
		}
		c = tc
	}
	r := bufio.NewReader(c)
	if password != "" {
		fmt.Fprintf(c, "*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n", len(password), password)
		if _, err := r.ReadString('\n'); err != nil {
			return err
		}
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH") {
		return nil
	}
	if strings.HasPrefix(line, "-LOADING") {
		return errors.New("loading")
	}
	return nil
}

// tlsClientFor names the dialled host as the server to check, as
// tls.Dial does.
func tlsClientFor(cfg *tls.Config, addr string) *tls.Config {
	c := cfg.Clone()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		c.ServerName = host
	}
	return c
}

// ClientTLS is the TLS configuration redisproc's own clients use with this
// server (trusting its CA, showing the client certificate), nil for a
// plain server.
func (s *Server) ClientTLS() *tls.Config {
	if s.tls == nil {
		return nil
	}
	return s.tls.Clone()
}

// Stop kills the server, waits for it and removes its directory.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		s.kill()
		if s.ownsDir {
			os.RemoveAll(s.Dir)
		}
	})
}

// Kill kills the server process without cleaning up, to simulate a crash.
// Restart brings it back on the same address.
func (s *Server) Kill() { s.kill() }

func (s *Server) kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		<-s.done
	}
}

// Restart starts a new process on the same address and directory, with the
// same arguments, after Kill.
func (s *Server) Restart(ctx context.Context) error {
	s.kill()
	cmd := exec.Command(s.cmd.Path, s.cmd.Args[1:]...)
	cmd.Stdout, cmd.Stderr = s.cmd.Stdout, s.cmd.Stderr
	if err := s.spawn(cmd); err != nil {
		return err
	}
	return s.waitReady(ctx, 10*time.Second)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() < 64<<10 {
		l.b.Write(p)
	}
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
