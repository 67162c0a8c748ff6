package keys
import ("testing";"fmt";"os";"path/filepath";"time";"sort";"strconv";"strings")
func TestDbgSlow(t *testing.T) {
	dir := os.Getenv("CORPUS")
	files, _ := filepath.Glob(dir+"/*")
	more, _ := filepath.Glob("testdata/values/*.bin")
	files = append(files, more...)
	type r struct{ n string; d time.Duration }
	var rs []r
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if strings.HasPrefix(string(b), "go test fuzz v1") {
			s := strings.TrimSuffix(strings.TrimPrefix(strings.SplitN(string(b), "\n", 2)[1], "[]byte("), ")\n")
			u, err := strconv.Unquote(s); if err != nil { continue }; b = []byte(u)
		}
		st := time.Now()
		for _, v := range []View{0,1,2,3,4,5} { DecodeAs(b, v) }
		rs = append(rs, r{filepath.Base(f), time.Since(st)})
	}
	sort.Slice(rs, func(i,j int) bool { return rs[i].d > rs[j].d })
	for _, x := range rs[:8] { fmt.Println(x.n, x.d) }
}
