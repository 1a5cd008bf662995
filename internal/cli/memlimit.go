package cli

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/dustin/go-humanize"
)

// Memory limit.
//
// polecam serve sets the Go runtime's soft memory limit
// (debug.SetMemoryLimit): as the heap nears it the collector runs more
// often, whatever --gc-percent says, and returns freed memory to the
// operating system, so the heap a burst of requests grew shrinks again
// and a high --gc-percent cannot multiply the heap past the limit. The
// memory-mapped snapshot files are not on the heap and do not count.
// --memory-limit auto (the default) takes memoryLimitShare of the
// process's cgroup memory limit (v2 memory.max, v1
// memory.limit_in_bytes) when there is one, leaving room for the memory
// the runtime does not count (stacks of goroutines blocked in the kernel,
// the mapped files' page cache charged to the cgroup); without a cgroup
// limit it sets none. GOMEMLIMIT in the environment wins over auto.

// memoryLimitShare is the share of the cgroup limit --memory-limit auto
// gives the Go runtime.
const memoryLimitShare = 0.9

// noCgroupLimit is the smallest value a cgroup v1 reports for "no limit"
// (the largest page-aligned int64); anything from it up means none.
const noCgroupLimit = 1 << 62

// parseMemoryLimit reads a --memory-limit value: "auto", "none" (or 0),
// or a size such as 1500MiB or 2GB. auto reports true and no size.
func parseMemoryLimit(s string) (limit int64, auto bool, err error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "auto", "":
		return 0, true, nil
	case "none", "0":
		return 0, false, nil
	}
	n, err := humanize.ParseBytes(s)
	if err != nil || n == 0 || n > 1<<62 {
		return 0, false, fmt.Errorf("bad --memory-limit %q: use auto, none or a size such as 2GiB", s)
	}
	return int64(n), false, nil
}

// cgroupMemoryLimit returns the memory limit of the cgroup the process
// is in, read from fsys rooted at / (/proc/self/cgroup, then the
// controller's files under /sys/fs/cgroup), and whether there is one.
func cgroupMemoryLimit(fsys fs.FS) (int64, bool) {
	b, err := fs.ReadFile(fsys, "proc/self/cgroup")
	if err != nil {
		return 0, false
	}
	var candidates []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		p := strings.TrimPrefix(path.Clean("/"+parts[2]), "/")
		switch {
		case parts[0] == "0" && parts[1] == "": // v2
			candidates = append(candidates, path.Join("sys/fs/cgroup", p, "memory.max"), "sys/fs/cgroup/memory.max")
		case hasController(parts[1], "memory"): // v1
			candidates = append(candidates, path.Join("sys/fs/cgroup/memory", p, "memory.limit_in_bytes"), "sys/fs/cgroup/memory/memory.limit_in_bytes")
		}
	}
	for _, name := range candidates {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			continue
		}
		v := strings.TrimSpace(string(b))
		if v == "max" {
			return 0, false
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 || n >= noCgroupLimit {
			return 0, false
		}
		return n, true
	}
	return 0, false
}

func hasController(list, name string) bool {
	for _, c := range strings.Split(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// memoryLimit decides the runtime's soft memory limit from the
// --memory-limit flag, the environment and the cgroup: the limit to set,
// or 0 to leave the runtime's, and why. A size or none always wins;
// auto yields to GOMEMLIMIT.
func memoryLimit(flag string, getenv func(string) string, fsys fs.FS) (int64, string, error) {
	limit, auto, err := parseMemoryLimit(flag)
	if err != nil {
		return 0, "", err
	}
	if !auto {
		if limit == 0 {
			return 0, "none (--memory-limit none)", nil
		}
		return limit, "--memory-limit", nil
	}
	if getenv("GOMEMLIMIT") != "" {
		return 0, "GOMEMLIMIT", nil
	}
	if n, ok := cgroupMemoryLimit(fsys); ok {
		return int64(float64(n) * memoryLimitShare), fmt.Sprintf("%.0f %% of the cgroup limit of %s", 100*memoryLimitShare, humanize.IBytes(uint64(n))), nil
	}
	return 0, "none (no cgroup memory limit)", nil
}

// rootFS is the file system memoryLimit reads the cgroup from.
var rootFS = os.DirFS("/")
