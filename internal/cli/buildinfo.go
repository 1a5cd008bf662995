package cli

import (
	"runtime/debug"
)

// codeVersion returns the code version to record in snapshot manifests:
// Version when it was set at link time, otherwise the VCS revision the
// binary was built from (with "+modified" when the working tree had
// uncommitted changes), otherwise "dev" (go test binaries, builds outside
// a repository or with -buildvcs=false).
func codeVersion() string {
	bi, _ := debug.ReadBuildInfo()
	return codeVersionOf(Version, bi)
}

func codeVersionOf(linked string, bi *debug.BuildInfo) string {
	if linked != "" && linked != "dev" {
		return linked
	}
	if bi == nil {
		return "dev"
	}
	var rev string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	if modified {
		rev += "+modified"
	}
	return rev
}
