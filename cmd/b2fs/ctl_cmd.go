package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"

	"github.com/b2fs/b2fs/internal/control"
)

// controlCommands are the subcommands that talk to a running mount over
// its control socket, with their one-line help. A bucket with one of these
// names is mounted as "NAME/ MOUNTPOINT".
var controlCommands = []struct{ name, args, help string }{
	{"sync", "[--timeout DURATION] MOUNTPOINT", "wait until every change made in the mount so far is in B2"},
	{"status", "[--json] MOUNTPOINT", "show pending uploads, upload rate, recent errors, B2 calls and their estimated cost"},
}

func isControlCommand(arg string) bool {
	for _, c := range controlCommands {
		if c.name == arg {
			return true
		}
	}
	return false
}

// controlArgs is the command line of a control subcommand.
type controlArgs struct {
	op         string
	mountpoint string
	timeout    time.Duration
	json       bool
}

// controlFlagSet defines the flags of subcommand op.
func controlFlagSet(op string, c *controlArgs) *pflag.FlagSet {
	fl := pflag.NewFlagSet("b2fs "+op, pflag.ContinueOnError)
	fl.SortFlags = false
	switch op {
	case "sync":
		fl.DurationVar(&c.timeout, "timeout", 0, "give up after `DURATION` with exit status 1 (the uploads go on); 0 waits as long as it takes")
	case "status":
		fl.BoolVar(&c.json, "json", false, "print one JSON object instead of text")
		fl.DurationVar(&c.timeout, "timeout", 30*time.Second, "give up after `DURATION` when the mount does not answer")
	}
	return fl
}

// parseControlArgs parses "sync ..." or "status ...".
func parseControlArgs(args []string, out io.Writer) (*controlArgs, error) {
	c := &controlArgs{op: args[0]}
	fl := controlFlagSet(c.op, c)
	fl.SetOutput(io.Discard)
	fl.Usage = func() {}
	if err := fl.Parse(args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			for _, cc := range controlCommands {
				if cc.name == c.op {
					fmt.Fprintf(out, "usage: b2fs %s %s\n\n%s.\n\n%s", cc.name, cc.args, cc.help, fl.FlagUsages())
				}
			}
			return nil, err
		}
		return nil, usageError{"b2fs " + c.op + ": " + err.Error()}
	}
	if fl.NArg() != 1 {
		return nil, usageError{fmt.Sprintf("b2fs %s: expected one MOUNTPOINT (see b2fs %s --help)", c.op, c.op)}
	}
	if c.timeout < 0 {
		return nil, usageError{"b2fs " + c.op + ": --timeout must not be negative"}
	}
	c.mountpoint = fl.Arg(0)
	return c, nil
}

// runControl runs a control subcommand; it returns the exit status: 0
// done, 1 not done (timeout, upload errors, not a b2fs mount, permission
// denied, b2fs not running), 2 usage error.
func runControl(args []string, stdout, stderr io.Writer) int {
	c, err := parseControlArgs(args, stdout)
	if err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, oneLine(err)) // "b2fs OP: ..."
		return 2
	}
	ctx := context.Background()
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	resp, err := control.Call(ctx, c.mountpoint, c.op)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			switch c.op {
			case "sync":
				err = fmt.Errorf("not every change is in B2 after %v (the uploads go on; b2fs status %s shows what is pending)", c.timeout, c.mountpoint)
			default:
				err = fmt.Errorf("%s did not answer within %v", c.mountpoint, c.timeout)
			}
		}
		fmt.Fprintf(stderr, "b2fs %s: %s\n", c.op, oneLine(err))
		return 1
	}
	if c.op == "status" {
		if resp.Status == nil {
			fmt.Fprintf(stderr, "b2fs status: %s answered without a status\n", c.mountpoint)
			return 1
		}
		if c.json {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			enc.Encode(resp.Status)
		} else {
			resp.Status.Write(stdout)
		}
	}
	return 0
}
