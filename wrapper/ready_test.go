package wrapper

import (
	"syscall"
	"testing"
	"time"

	"zedr-run/wrapper/proc"
)

func TestParseReadiness(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Readiness
		err  bool
	}{
		{"notify", Readiness{Kind: ReadyNotify}, false},
		{"delay:1s", Readiness{Kind: ReadyDelay, Delay: time.Second}, false},
		{"delay:0s", Readiness{Kind: ReadyDelay}, false},
		{"exec:curl -fs http://127.0.0.1:8080/", Readiness{Kind: ReadyExec, Command: "curl -fs http://127.0.0.1:8080/"}, false},
		{"notify:x", Readiness{}, true},
		{"delay", Readiness{}, true},
		{"delay:-1s", Readiness{}, true},
		{"exec:", Readiness{}, true},
		{"ready", Readiness{}, true},
	} {
		got, err := ParseReadiness(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseReadiness(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.err)
		}
		if err == nil {
			if again, _ := ParseReadiness(got.String()); again != got {
				t.Errorf("round trip of %q: %+v", tc.in, again)
			}
		}
	}
}

func TestExitCode(t *testing.T) {
	exited3 := syscall.WaitStatus(3 << 8)
	killed9 := syscall.WaitStatus(syscall.SIGKILL)
	if proc.ExitCode(exited3) != 3 || proc.Describe(exited3) != "exit status 3" {
		t.Errorf("exit 3: %d %q", proc.ExitCode(exited3), proc.Describe(exited3))
	}
	if proc.ExitCode(killed9) != 137 || proc.Describe(killed9) != "killed by SIGKILL" {
		t.Errorf("SIGKILL: %d %q", proc.ExitCode(killed9), proc.Describe(killed9))
	}
}

func FuzzParseReadiness(f *testing.F) {
	for _, s := range []string{"notify", "delay:1s", "exec:true", "listen", "delay:", "exec:", "x:y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReadiness(s)
		if err != nil {
			return
		}
		again, err := ParseReadiness(r.String())
		if err != nil || again != r {
			t.Errorf("ParseReadiness(%q) = %+v, but its String %q gives %+v, %v", s, r, r.String(), again, err)
		}
	})
}
