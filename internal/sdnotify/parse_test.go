package sdnotify

import "testing"

func TestParseNotify(t *testing.T) {
	f := Parse("READY=1\nSTATUS=serving on :8080\nMAINPID=42\n\nbogus\n=x\nSTATUS=a=b")
	if f["READY"] != "1" || f["STATUS"] != "a=b" || f["MAINPID"] != "42" || len(f) != 3 {
		t.Errorf("Parse: %q", f)
	}
}

func FuzzParseNotify(f *testing.F) {
	for _, s := range []string{"READY=1", "STATUS=a=b\nMAINPID=3", "\n\n=", "ZEDR_BARRIER=7"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for k := range Parse(s) {
			if k == "" {
				t.Errorf("Parse(%q) has an empty key", s)
			}
		}
	})
}
