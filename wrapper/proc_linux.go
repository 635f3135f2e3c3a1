package wrapper

import (
	"fmt"
	"strconv"
	"strings"
)

func parsePid(s string) (int, error) {
	pid, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || pid <= 1 {
		return 0, fmt.Errorf("bad pid %q", s)
	}
	return pid, nil
}
