package redisinfo

import "redtop/internal/keyshape"

// KeyPattern folds a key name into the pattern of its family, a Redis
// glob: "user:1000:profile" → "user:*:profile",
// "session:3f2a9c1e-8b7d-4e6f-a1b2-c3d4e5f60718" → "session:*",
// "nalar:1:django.contrib.sessions.cache<id>" →
// "nalar:*:django.contrib.sessions.cache*". It folds as the key
// browser's tree does (keyshape.Classify), short ids included: the tree
// folds those only once a level has many of them, which needs the
// siblings a single MONITOR line does not have. Literal text is quoted
// (\* \? \[ \] \\), so the pattern matches the key it came from. Keys past
// 8 segments keep the rest as one segment.
func KeyPattern(key, delimiter string) string { return keyshape.Pattern(key, delimiter) }
