package seccomp

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestKernelVersion(t *testing.T) {
	for release, want := range map[string][2]int{
		"6.18.0-1-amd64": {6, 18}, "5.9": {5, 9}, "5.10.0+": {5, 10}, "4": {4, 0}, "": {0, 0}, "x.y": {0, 0},
	} {
		if got := kernelVersion(release); got != want {
			t.Errorf("kernelVersion(%q) = %v, want %v", release, got, want)
		}
	}
}

// TestFilterProgram runs the BPF program on sample calls with a small
// interpreter of the few instructions it uses.
func TestFilterProgram(t *testing.T) {
	const arch, other = 0xc000003e, 0x40000003
	prog := filterProgram(arch, []uint32{49, 50, 263})
	for _, tc := range []struct {
		arch, nr uint32
		want     uint32
	}{
		{arch, 49, unix.SECCOMP_RET_USER_NOTIF},
		{arch, 50, unix.SECCOMP_RET_USER_NOTIF},
		{arch, 263, unix.SECCOMP_RET_USER_NOTIF},
		{arch, 0, unix.SECCOMP_RET_ALLOW},
		{arch, 49 | 0x40000000, unix.SECCOMP_RET_ALLOW}, // x32
		{other, 49, unix.SECCOMP_RET_ALLOW},             // 32-bit ABI
	} {
		if got := runBPF(t, prog, tc.arch, tc.nr); got != tc.want {
			t.Errorf("arch %#x nr %d: %#x, want %#x", tc.arch, tc.nr, got, tc.want)
		}
	}
}

func runBPF(t *testing.T, prog []unix.SockFilter, arch, nr uint32) uint32 {
	var acc uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			switch in.K {
			case seccompDataNr:
				acc = nr
			case seccompDataArch:
				acc = arch
			default:
				t.Fatalf("load of offset %d", in.K)
			}
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			if acc == in.K {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		default:
			t.Fatalf("unexpected instruction %#x", in.Code)
		}
	}
	t.Fatal("program fell off its end")
	return 0
}
