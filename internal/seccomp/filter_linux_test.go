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
		if got := runBPF(t, prog, tc.arch, tc.nr, nil); got != tc.want {
			t.Errorf("arch %#x nr %d: %#x, want %#x", tc.arch, tc.nr, got, tc.want)
		}
	}
}

// TestFilterNarrowed: getsockopt() is a notification only for
// (SOL_SOCKET, SO_ACCEPTCONN); the other calls are unaffected by it.
func TestFilterNarrowed(t *testing.T) {
	const arch = 0xc000003e
	const bind, getsockopt, listen = 49, 55, 50
	narrowed[getsockopt] = narrowed[SysGetsockopt]
	defer delete(narrowed, getsockopt)
	prog := filterProgram(arch, []uint32{bind, getsockopt, listen})
	for _, tc := range []struct {
		nr   uint32
		args []uint32
		want uint32
	}{
		{getsockopt, []uint32{3, unix.SOL_SOCKET, unix.SO_ACCEPTCONN}, unix.SECCOMP_RET_USER_NOTIF},
		{getsockopt, []uint32{3, unix.SOL_SOCKET, unix.SO_ERROR}, unix.SECCOMP_RET_ALLOW},
		{getsockopt, []uint32{3, unix.IPPROTO_TCP, unix.SO_ACCEPTCONN}, unix.SECCOMP_RET_ALLOW},
		{bind, []uint32{3, unix.SOL_SOCKET, unix.SO_ERROR}, unix.SECCOMP_RET_USER_NOTIF},
		{listen, []uint32{3, 128, 0}, unix.SECCOMP_RET_USER_NOTIF},
		{0, []uint32{3, unix.SOL_SOCKET, unix.SO_ACCEPTCONN}, unix.SECCOMP_RET_ALLOW},
	} {
		if got := runBPF(t, prog, arch, tc.nr, tc.args); got != tc.want {
			t.Errorf("nr %d args %v: %#x, want %#x", tc.nr, tc.args, got, tc.want)
		}
	}
}

func runBPF(t *testing.T, prog []unix.SockFilter, arch, nr uint32, args []uint32) uint32 {
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
				if i := (int(in.K) - seccompDataArgs) / 8; in.K >= seccompDataArgs && (int(in.K)-seccompDataArgs)%8 == 0 && i < len(args) {
					acc = args[i]
					break
				}
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
