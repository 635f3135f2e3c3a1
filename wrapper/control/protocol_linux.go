package control

import "time"

// The commands of the control protocol.
const (
	CmdStatus  = "status"
	CmdRestart = "restart"
	CmdStop    = "stop"
	CmdReexec  = "reexec"
)

// Request is what a client sends, as one line of JSON.
type Request struct {
	Cmd  string `json:"cmd"`            // CmdStatus, CmdRestart, CmdStop or CmdReexec
	Wait bool   `json:"wait,omitempty"` // restart: answer once it is done
}

// Response is zedr-run's answer, as one line of JSON.
type Response struct {
	OK      bool    `json:"ok"`
	Error   string  `json:"error,omitempty"`   // why not, when !OK
	Message string  `json:"message,omitempty"` // what happened, for people
	Status  *Status `json:"status,omitempty"`  // status, and restart with Wait
}

const (
	// ReadTimeout bounds how long a client may take to send its request,
	// and the server to write its answer.
	ReadTimeout = 10 * time.Second
	// DialTimeout bounds connecting to a control socket and, for every
	// request but a waiting restart, the whole exchange.
	DialTimeout = 30 * time.Second
)
