package reexec

import (
	"slices"
	"testing"
)

func TestArgsWith(t *testing.T) {
	plain := Args(5, "/bin/srv", []string{"srv", "-x"})
	if got := ArgsWith(5, Intercept{}, "/bin/srv", []string{"srv", "-x"}); !slices.Equal(got, plain) {
		t.Errorf("ArgsWith without interception = %q, want Args' %q", got, plain)
	}
	got := ArgsWith(5, Intercept{Bind: true, Unlink: true}, "/bin/srv", []string{"srv", "-x"})
	want := []string{ShimName, "--intercept=bind,unlink", "5", "/bin/srv", "srv", "-x"}
	if !slices.Equal(got, want) {
		t.Fatalf("ArgsWith = %q, want %q", got, want)
	}
	ic, err := parseIntercept(got[1])
	if err != nil || ic != (Intercept{Bind: true, Unlink: true}) {
		t.Errorf("parseIntercept(%q) = %+v, %v", got[1], ic, err)
	}
	if _, err := parseIntercept("--intercept=bind,connect"); err == nil {
		t.Error("parseIntercept accepted an unknown kind")
	}
}
