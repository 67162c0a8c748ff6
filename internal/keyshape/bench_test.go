package keyshape

import "testing"

func BenchmarkPattern(b *testing.B) {
	keys := []string{"nalar:1:employees:list:page:3", "nalar:1:django.contrib.sessions.cacheq8x0k3m2z9v7b1n4c6l5j8h2g0f3d1s7", "user:1000:profile", "key:__rand_int__", "plain:key"}
	for i := 0; b.Loop(); i++ {
		Pattern(keys[i%len(keys)], ":")
	}
}
