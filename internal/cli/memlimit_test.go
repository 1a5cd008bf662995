package cli

import (
	"testing"
	"testing/fstest"
)

func TestMemoryLimit(t *testing.T) {
	v2 := func(max string) fstest.MapFS {
		return fstest.MapFS{
			"proc/self/cgroup": {Data: []byte("0::/system.slice/polecam.service\n")},
			"sys/fs/cgroup/system.slice/polecam.service/memory.max": {Data: []byte(max + "\n")},
		}
	}
	v1 := fstest.MapFS{
		"proc/self/cgroup": {Data: []byte("5:devices:/\n4:memory:/process_api/abc\n0::/\n")},
		"sys/fs/cgroup/memory/process_api/abc/memory.limit_in_bytes": {Data: []byte("2147483648\n")},
	}
	v1Unlimited := fstest.MapFS{
		"proc/self/cgroup": {Data: []byte("4:memory:/process_api/abc\n")},
		"sys/fs/cgroup/memory/process_api/abc/memory.limit_in_bytes": {Data: []byte("9223372036854771712\n")},
	}
	rootOnly := fstest.MapFS{
		"proc/self/cgroup":         {Data: []byte("0::/\n")},
		"sys/fs/cgroup/memory.max": {Data: []byte("1073741824\n")},
	}
	noEnv := func(string) string { return "" }
	env := func(k string) string {
		if k == "GOMEMLIMIT" {
			return "3GiB"
		}
		return ""
	}
	tests := []struct {
		name   string
		flag   string
		getenv func(string) string
		fsys   fstest.MapFS
		want   int64
	}{
		{"v2 limit", "auto", noEnv, v2("4294967296"), 4294967296 * 9 / 10},
		{"v2 max", "auto", noEnv, v2("max"), 0},
		{"v1 limit", "auto", noEnv, v1, 2147483648 * 9 / 10},
		{"v1 unlimited", "auto", noEnv, v1Unlimited, 0},
		{"v2 at the root", "auto", noEnv, rootOnly, 1073741824 * 9 / 10},
		{"no cgroup", "auto", noEnv, fstest.MapFS{}, 0},
		{"GOMEMLIMIT wins over auto", "auto", env, v1, 0},
		{"a size wins over GOMEMLIMIT", "1500MiB", env, v1, 1500 << 20},
		{"none", "none", noEnv, v1, 0},
	}
	for _, tt := range tests {
		got, why, err := memoryLimit(tt.flag, tt.getenv, tt.fsys)
		if err != nil || got != tt.want || why == "" {
			t.Errorf("%s: memoryLimit(%q) = %d, %q, %v; want %d", tt.name, tt.flag, got, why, err, tt.want)
		}
	}
	for _, bad := range []string{"lots", "-1GiB", "0.5B"} {
		if _, _, err := memoryLimit(bad, noEnv, fstest.MapFS{}); err == nil {
			t.Errorf("memoryLimit(%q) = nil error, want one", bad)
		}
	}
}
