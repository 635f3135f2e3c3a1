package control

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"time"
)

// Do sends req to the zedr-run whose control socket is path and returns its
// answer. A response with OK false is returned as it is, with a nil error;
// the error is for failing to talk to zedr-run at all. The exchange is
// bounded by DialTimeout, but for a restart with Wait, which lasts as long
// as the restart does.
func Do(path string, req Request) (Response, error) {
	var resp Response
	conn, err := net.DialTimeout("unix", path, DialTimeout)
	if err != nil {
		return resp, fmt.Errorf("connect to zedr-run's control socket: %w", err)
	}
	defer conn.Close()
	if !(req.Cmd == CmdRestart && req.Wait) {
		conn.SetDeadline(time.Now().Add(DialTimeout))
	}
	b, err := json.Marshal(req)
	if err != nil {
		return resp, err
	}
	if _, err := conn.Write(append(b, '\n')); err != nil {
		return resp, fmt.Errorf("send to %s: %w", path, err)
	}
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil {
		return resp, fmt.Errorf("read zedr-run's answer on %s: %w (did it stop?)", path, err)
	}
	if err := json.Unmarshal(line, &resp); err != nil {
		return resp, fmt.Errorf("bad answer from %s: %w", path, err)
	}
	return resp, nil
}
