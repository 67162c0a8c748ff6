package redisinfo

// EscapeTextForTest lets slowlog_escape_test.go (package redisinfo_test,
// which may import keys) compare escapeText with keys.Escape.
var EscapeTextForTest = escapeText
