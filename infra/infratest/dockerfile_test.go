package infratest

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

type dockerStage struct {
	from, name string
	lines      []string
}

// dockerStages splits a Dockerfile into stages, joining continued lines.
func dockerStages(t *testing.T, p string) []dockerStage {
	t.Helper()
	var stages []dockerStage
	sc := bufio.NewScanner(bytes.NewReader(readFile(t, p)))
	var cur strings.Builder
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if s, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		full := cur.String()
		cur.Reset()
		f := strings.Fields(full)
		if strings.EqualFold(f[0], "FROM") {
			st := dockerStage{from: f[1]}
			if len(f) >= 4 && strings.EqualFold(f[2], "AS") {
				st.name = f[3]
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			t.Fatalf("%s: instruction before FROM: %s", rel(t, p), full)
		}
		stages[len(stages)-1].lines = append(stages[len(stages)-1].lines, full)
	}
	return stages
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	stages := dockerStages(t, path(t, "infra", "Dockerfile"))
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build, got %d stage(s)", len(stages))
	}
	for _, st := range stages {
		if !pinned(st.from) {
			t.Errorf("FROM %s is not pinned", st.from)
		}
	}
	build, final := stages[0], stages[len(stages)-1]
	if name, tag := imageRef(build.from); name != "golang" || !strings.HasPrefix(tag, "1.26.") {
		t.Errorf("build stage FROM %s, want golang:1.26.x", build.from)
	}
	var built bool
	for _, l := range build.lines {
		if strings.Contains(l, "go build") {
			built = true
			for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-ldflags='-s -w'", "./cmd/borderproof"} {
				if !strings.Contains(l, want) {
					t.Errorf("go build line lacks %s: %s", want, l)
				}
			}
		}
	}
	if !built {
		t.Error("build stage has no go build")
	}
	if name, tag := imageRef(final.from); name != "gcr.io/distroless/static-debian12" || !strings.Contains(tag, "nonroot") {
		t.Errorf("final stage FROM %s, want gcr.io/distroless/static-debian12:nonroot", final.from)
	}
	var user, entry string
	for _, l := range final.lines {
		f := strings.Fields(l)
		switch strings.ToUpper(f[0]) {
		case "USER":
			user = f[1]
		case "ENTRYPOINT":
			entry = strings.TrimSpace(strings.TrimPrefix(l, f[0]))
		case "RUN":
			t.Errorf("final stage runs a command, but distroless has no shell: %s", l)
		}
	}
	if user == "" || strings.HasPrefix(user, "0") || strings.HasPrefix(user, "root") {
		t.Errorf("final stage USER %q, want a non-root uid", user)
	}
	if entry != `["/borderproof"]` {
		t.Errorf("ENTRYPOINT %s, want [\"/borderproof\"]", entry)
	}

	s3 := dockerStages(t, path(t, "infra", "compose", "gofakes3.Dockerfile"))
	for _, st := range s3 {
		if !pinned(st.from) {
			t.Errorf("gofakes3.Dockerfile: FROM %s is not pinned", st.from)
		}
	}
}

func TestDockerignoreKeepsSources(t *testing.T) {
	t.Parallel()
	ignore := string(readFile(t, path(t, "infra", "Dockerfile.dockerignore")))
	for _, line := range strings.Split(ignore, "\n") {
		line = strings.TrimSpace(line)
		switch line {
		case "go.mod", "go.sum", "cmd", "internal", "api", "graph", "worker", "*.go", "**/*.go":
			t.Errorf("Dockerfile.dockerignore excludes %q, which the build needs", line)
		}
	}
}
