package membership

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// portFile is the file in Config.DataDir that keeps the gossip port.
const portFile = "gossip-port"

// readPort returns the gossip port kept in dir, 0 when there is none.
func readPort(dir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dir, portFile))
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("membership: %w", err)
	}
	p, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || p <= 0 || p > 65535 {
		return 0, fmt.Errorf("%w: %s holds %q, not a port", ErrConfig, filepath.Join(dir, portFile), b)
	}
	return p, nil
}

// writePort keeps port in dir (write, then rename, so a crash leaves the
// old file or the new one).
func writePort(dir string, port int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("membership: data dir: %w", err)
	}
	tmp := filepath.Join(dir, portFile+".tmp")
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(port)+"\n"), 0o644); err != nil {
		return fmt.Errorf("membership: keep gossip port: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, portFile)); err != nil {
		return fmt.Errorf("membership: keep gossip port: %w", err)
	}
	return nil
}
