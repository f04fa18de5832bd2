// Package version tells which build a binary is: the module version and
// the VCS revision Go recorded in it at build time.
package version

import (
	"fmt"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Info is a binary's build.
type Info struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"goVersion"`
}

// Get reads the running binary's build information. Outside a VCS
// checkout (or with -buildvcs=false) the revision is "unknown".
func Get() Info {
	in := Info{Version: "(devel)", Revision: "unknown"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return in
	}
	in.GoVersion = bi.GoVersion
	if bi.Main.Version != "" {
		in.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	return in
}

// String is the one line `--version` prints.
func (in Info) String() string {
	rev := in.Revision
	if in.Modified {
		rev += " (modified)"
	}
	return fmt.Sprintf("%s revision %s %s", in.Version, rev, in.GoVersion)
}

// Short is the version and the revision's first 12 characters.
func (in Info) Short() string {
	rev := in.Revision
	if len(rev) > 12 {
		rev = rev[:12]
	}
	return in.Version + " " + rev
}

// Register exports the build as turnout_build_info{version,revision,go_version} 1.
func Register(reg prometheus.Registerer) {
	in := Get()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "turnout_build_info",
		Help:        "The running binary's build: module version, VCS revision and Go version; always 1.",
		ConstLabels: prometheus.Labels{"version": in.Version, "revision": in.Revision, "go_version": in.GoVersion},
	})
	g.Set(1)
	reg.MustRegister(g)
}
