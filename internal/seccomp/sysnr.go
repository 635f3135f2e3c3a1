package seccomp

// NoSyscall stands for a call an architecture lacks: a number no system
// call has, so that a switch on a notification's number never matches it
// and the filter never lists it.
const NoSyscall = 0xffffffff
