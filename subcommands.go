package main

import (
	"context"
	"fmt"
	"io"
)

// subcommands run after the connection flags: redtop [flags] NAME args…
var subcommands = map[string]func(ctx context.Context, app *App, args []string, stdout, stderr io.Writer) int{}

func isSubcommand(name string) bool { _, ok := subcommands[name]; return ok }

func runSubcommand(ctx context.Context, app *App, args []string, stdout, stderr io.Writer) int {
	run, ok := subcommands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "redtop: unknown command %q (see redtop --help)\n", args[0])
		return 2
	}
	return run(ctx, app, args[1:], stdout, stderr)
}

// wantsHelp reports whether a subcommand's arguments ask for its help,
// which subcommands print without touching the (then nil) App.
func wantsHelp(args []string) bool {
	for _, a := range args[1:] {
		if a == "--help" || a == "help" {
			return true
		}
	}
	return len(args) == 1
}
