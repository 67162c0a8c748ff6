package redisinfo

import "redtop/internal/escape"

// escapeText renders bytes from Redis (names, arguments) for a terminal, as
// the key browser does.
func escapeText(s string) string { return escape.String(s) }
