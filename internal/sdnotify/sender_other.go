//go:build !unix

package sdnotify

import (
	"errors"
	"net"
)

// write sends one datagram; control data needs unix.
func write(conn *net.UnixConn, msg, oob []byte) error {
	if len(oob) > 0 {
		return errors.ErrUnsupported
	}
	_, err := conn.Write(msg)
	return err
}
