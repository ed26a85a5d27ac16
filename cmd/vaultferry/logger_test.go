package main

import (
	"bytes"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// Every line is written, however often a message repeats; the level flag
// still filters.
func TestLoggerKeepsEveryLine(t *testing.T) {
	var out bytes.Buffer
	logger := newLogger(zap.Options{DestWriter: &out})
	for range 500 {
		logger.Info("Created version", "secret", "db-1")
		logger.V(1).Info("debug detail")
	}
	if n := strings.Count(out.String(), `"msg":"Created version"`); n != 500 {
		t.Errorf("%d of 500 lines written", n)
	}
	if strings.Contains(out.String(), "debug detail") {
		t.Error("a V(1) line was written at the default level")
	}
}
