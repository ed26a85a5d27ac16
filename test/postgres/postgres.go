// Package postgres runs a real PostgreSQL server for tests: Debian's
// postgresql package (installed by .ci/run), a fresh cluster in a temporary
// directory, listening on a loopback port only, run as an unprivileged user
// (the "postgres" account when the tests run as root, as PostgreSQL refuses
// root). Vault's database secrets engine issues credentials against it.
package postgres

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vaultferry/vaultferry/test/testenv"
)

// Superuser and its password: what Vault's connection uses.
const (
	Superuser         = "postgres"
	SuperuserPassword = "vaultferry-test-superuser"
)

// Server is a running PostgreSQL.
type Server struct {
	// Host and Port are where it listens (127.0.0.1 only).
	Host string
	Port int

	bin  string
	data string
	cred *syscall.Credential
	cmd  *exec.Cmd
}

// Start initialises a cluster and starts PostgreSQL until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := binDir()
	if err != nil {
		t.Fatalf("PostgreSQL is not installed (%v): .ci/run installs Debian's postgresql package", err)
	}
	dir, err := os.MkdirTemp("", "vaultferry-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	s := &Server{Host: "127.0.0.1", bin: bin, data: filepath.Join(dir, "data")}
	if os.Geteuid() == 0 {
		s.cred, err = account("postgres")
		if err != nil {
			t.Fatalf("running PostgreSQL as root is refused, and there is no postgres account: %v", err)
		}
		if err := os.Chown(dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	pwfile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte(SuperuserPassword+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.run(t, "initdb", "-D", s.data, "-U", Superuser, "--pwfile="+pwfile, "--auth=scram-sha-256", "-E", "UTF8", "--no-sync")
	_, port, _ := strings.Cut(testenv.FreeAddr(), ":")
	s.Port, _ = strconv.Atoi(port)
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", s.data, "-p", port, "-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+dir, "-c", "fsync=off", "-c", "max_connections=50")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Setpgid: true}
	logFile, err := os.Create(filepath.Join(t.TempDir(), "postgres.log"))
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting postgres: %v", err)
	}
	t.Cleanup(s.stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := s.Query(Superuser, SuperuserPassword, "select 1"); err == nil {
			return s
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile.Name())
			t.Fatalf("postgres did not become ready:\n%s", log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// URL is a connection URL template for Vault's database engine.
func (s *Server) URL() string {
	return fmt.Sprintf("postgresql://{{username}}:{{password}}@%s:%d/postgres?sslmode=disable", s.Host, s.Port)
}

// Query runs sql as user over TCP and returns the rows, one per line.
func (s *Server) Query(user, password, sql string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, "psql"), "-h", s.Host, "-p", strconv.Itoa(s.Port), "-U", user, "-d", "postgres",
		"-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+password, "PGCONNECT_TIMEOUT=5")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("psql as %s: %w: %s", user, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// Roles lists the login roles other than the superuser.
func (s *Server) Roles(t testing.TB) []string {
	t.Helper()
	out, err := s.Query(Superuser, SuperuserPassword, "select rolname from pg_roles where rolcanlogin and rolname <> 'postgres' order by 1")
	if err != nil {
		t.Fatal(err)
	}
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

func (s *Server) run(t testing.TB, tool string, args ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(s.bin, tool), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	cmd.Dir = os.TempDir()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", tool, err, out)
	}
}

func (s *Server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// binDir finds Debian's PostgreSQL binaries, the newest version first.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("no /usr/lib/postgresql/*/bin/initdb")
}

func version(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

func account(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}
