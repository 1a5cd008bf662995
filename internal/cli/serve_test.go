package cli

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReadAdminToken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	withNewline := write("token", "s3cret\n")
	blank := write("blank", " \n")
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == adminTokenEnv {
				return v
			}
			return ""
		}
	}
	tests := []struct {
		name    string
		file    string
		env     string
		want    string
		wantErr bool
	}{
		{"file wins over env", withNewline, "from-env", "s3cret", false},
		{"env when no file", "", " from-env\n", "from-env", false},
		{"neither: admin disabled", "", "", "", false},
		{"blank file", blank, "", "", true},
		{"missing file", filepath.Join(dir, "nope"), "from-env", "", true},
	}
	for _, tt := range tests {
		got, err := readAdminToken(tt.file, env(tt.env))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("%s: readAdminToken(%q) = %q, %v, want %q, error %v", tt.name, tt.file, got, err, tt.want, tt.wantErr)
		}
	}
}
