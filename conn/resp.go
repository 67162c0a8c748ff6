package conn

import "strconv"

// AppendCommand appends a command as a RESP array of bulk strings, as
// redtop's raw connections (bulk writes, analysis, MONITOR) send them.
func AppendCommand(b []byte, args ...string) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = AppendBulk(b, a)
	}
	return b
}

// AppendBulk appends one RESP bulk string.
func AppendBulk(b []byte, a string) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(a)), 10)
	b = append(b, '\r', '\n')
	b = append(b, a...)
	return append(b, '\r', '\n')
}
