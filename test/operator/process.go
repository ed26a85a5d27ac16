package operator

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vaultferry/vaultferry/test/testenv"
)

// Process is the operator binary running as a child process.
type Process struct {
	// MetricsURL and ProbeURL are the addresses it serves.
	MetricsURL, ProbeURL string
	cmd                  *exec.Cmd
	logs                 *testenv.SyncBuffer
	exited               chan struct{} // closed when the process has exited
	waitErr              error         // how it exited; read after exited is closed
}

// BuildBinary builds cmd/vaultferry into dir as make image does (static,
// stripped, -trimpath: what users run, so that the memory make bench
// measures is theirs) and returns its path. ldflags are added, e.g. -X.
func BuildBinary(ctx context.Context, dir string, ldflags ...string) (string, error) {
	bin := filepath.Join(dir, "vaultferry")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", strings.Join(append([]string{"-s", "-w"}, ldflags...), " "),
		"-o", bin, "./cmd/vaultferry")
	cmd.Dir, cmd.Env = testenv.RepoRoot(), append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the operator: %w\n%s", err, out)
	}
	return bin, nil
}

// StartBinary runs the operator binary against kubeconfig and waits until
// /readyz answers. Its logs go to the returned Process (and to also, if set).
func StartBinary(ctx context.Context, binary, kubeconfig string, also io.Writer, extraArgs ...string) (*Process, error) {
	metrics, probe := testenv.FreeAddr(), testenv.FreeAddr()
	p := &Process{MetricsURL: "http://" + metrics + "/metrics", ProbeURL: "http://" + probe, logs: &testenv.SyncBuffer{}, exited: make(chan struct{})}
	args := append([]string{
		"--kubeconfig", kubeconfig, "--namespace", Namespace,
		"--metrics-bind-address", metrics, "--health-probe-bind-address", probe, "--enable-fake-provider",
	}, extraArgs...)
	p.cmd = exec.Command(binary, args...)
	var out io.Writer = p.logs
	if also != nil {
		out = io.MultiWriter(p.logs, also)
	}
	p.cmd.Stdout, p.cmd.Stderr = out, out
	p.cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", binary, err)
	}
	go func() { p.waitErr = p.cmd.Wait(); close(p.exited) }()

	deadline := time.Now().Add(Timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return nil, fmt.Errorf("operator exited before it was ready: %w\n%s", p.waitErr, p.logs.String())
		case <-ctx.Done():
			p.Stop()
			return nil, ctx.Err()
		default:
		}
		if resp, err := http.Get(p.ProbeURL + "/readyz"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	p.Stop()
	return nil, fmt.Errorf("operator not ready within %v:\n%s", Timeout, p.logs.String())
}

// PID is the operator's process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Logs is everything the process printed so far.
func (p *Process) Logs() string { return p.logs.String() }

// Metrics fetches the metrics endpoint's text.
func (p *Process) Metrics() (string, error) {
	resp, err := http.Get(p.MetricsURL)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// Kill sends SIGKILL and waits: an abrupt crash.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// Terminate sends SIGTERM and returns how long the process took to exit and
// how it exited; after limit it is killed and the error says so.
func (p *Process) Terminate(limit time.Duration) (time.Duration, error) {
	start := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return time.Since(start), p.waitErr
	case <-time.After(limit):
		p.Kill()
		return time.Since(start), fmt.Errorf("still running %v after SIGTERM: killed", limit)
	}
}

// Stop interrupts the process and waits for a graceful exit (killing it
// after 30s). Calling it again is harmless.
func (p *Process) Stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}
