// Command zohoquota answers the questions a Zoho CRM integration has about its API
// limits: what the cap is (cap), how long a job takes (plan), and it runs a bulk
// import within them (import).
//
//	zohoquota cap -edition professional -licenses 10 [-api v1|v8] [-addon N] [-json]
//	zohoquota plan -op write -records 250000 -edition standard -licenses 10 [-api v1|v8] [-used N] [-start RFC3339] [-svg out.svg] [-json]
//	zohoquota import -file leads.csv -module Leads [-url URL] [-checkpoint job.json] [-json]
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1 // the command ran and failed, or left records unaccounted for
	exitUsage = 2 // bad flags or arguments
)

const usage = `usage: zohoquota <command> [flags]

commands:
  cap      the API cap, concurrency and reset rule of an organization
  plan     how many requests, credits and days a job takes, day by day
  import   import a CSV file through the limiter, resumably

Run "zohoquota <command> -h" for a command's flags.
`

// run is the whole program: args without the program name; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	var cmd func([]string, io.Writer, io.Writer) int
	switch args[0] {
	case "cap":
		cmd = runCap
	case "plan":
		cmd = runPlan
	case "import":
		cmd = runImport
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "zohoquota: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	return cmd(args[1:], stdout, stderr)
}

// usageError is a problem with the flags: the command prints it and its usage and
// exits 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: zohoquota %s %s\n\nflags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args and turns the outcome into an exit status: -1 to go on.
func parse(fs *flag.FlagSet, args []string) int {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case err != nil:
		return exitUsage // the flag package has printed the error and the usage
	case fs.NArg() > 0:
		fmt.Fprintf(fs.Output(), "zohoquota %s: unexpected arguments %q\n", fs.Name(), fs.Args())
		fs.Usage()
		return exitUsage
	}
	return -1
}

// isSet reports whether the flag name was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// fail prints err (with the usage for a usageError) and returns the exit status.
func fail(fs *flag.FlagSet, err error) int {
	// The library prefixes each of its errors with "zohoquota: "; the command's
	// own prefix says it once.
	msg := strings.ReplaceAll(err.Error(), "zohoquota: ", "")
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(fs.Output(), "zohoquota %s: %s\n", fs.Name(), msg)
		fs.Usage()
		return exitUsage
	}
	fmt.Fprintf(fs.Output(), "zohoquota %s: %s\n", fs.Name(), msg)
	return exitFail
}
