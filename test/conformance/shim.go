// The conformance tier's redirect (test/conformance/build.sh): `go test -overlay` adds this file to the reference's
// plugins/main/bridge package, whose bridge.go is swapped for a copy with cmdAdd/cmdDel/cmdCheck/cmdStatus renamed
// refCmdAdd..., so that the reference's own test suite calls these functions instead: each runs the executable
// named by CONFORMANCE_PLUGIN as a runtime would (CNI environment from the CmdArgs, config on stdin), copies its
// stdout to os.Stdout (where the suite's testutils captures a result) and turns its error JSON into a *types.Error.
//
// The suite calls these inside ns.Do, on the OS thread that ns.Do locked into the test's "host" namespace; exec.Cmd
// forks from the calling thread, so the plugin starts in that namespace. A call from any other thread (one in the
// namespace this process started in, the machine's own) is refused rather than run.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
)

func cmdAdd(args *skel.CmdArgs) error    { return execPlugin("ADD", args) }
func cmdDel(args *skel.CmdArgs) error    { return execPlugin("DEL", args) }
func cmdCheck(args *skel.CmdArgs) error  { return execPlugin("CHECK", args) }
func cmdStatus(args *skel.CmdArgs) error { return execPlugin("STATUS", args) }

// The network namespace of the thread that ran package initialisation: the one the test binary was started in.
var startNetns, startNetnsErr = threadNetns()

func threadNetns() (string, error) {
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino), nil
}

func execPlugin(command string, args *skel.CmdArgs) error {
	plugin := os.Getenv("CONFORMANCE_PLUGIN")
	if plugin == "" {
		return fmt.Errorf("conformance shim: CONFORMANCE_PLUGIN names no executable")
	}
	here, err := threadNetns()
	if startNetnsErr != nil || err != nil {
		return fmt.Errorf("conformance shim: cannot read the thread's network namespace: %v %v", startNetnsErr, err)
	}
	if here == startNetns {
		return fmt.Errorf("conformance shim: refusing to run %s %s in the namespace the test binary started in", plugin, command)
	}
	// testutils sets CNI_PATH (to PATH) for ADD, CHECK, DEL and STATUS; a direct call (no testutils) gets PATH too.
	cniPath := firstSet(args.Path, os.Getenv("CNI_PATH"), os.Getenv("PATH"))
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CNI_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"CNI_COMMAND="+command,
		"CNI_CONTAINERID="+args.ContainerID,
		"CNI_NETNS="+args.Netns,
		"CNI_IFNAME="+args.IfName,
		"CNI_ARGS="+runtimeArgs(args.Args),
		"CNI_PATH="+cniPath,
	)
	// Some specs give the test's own "host" namespace as the container's (ipMasq, macspoofchk): testutils sets
	// CNI_NETNS_OVERRIDE=1 so that skel lets it through, and the plugin (and the IPAM plugin it runs) must see it.
	if override := firstSet(args.NetnsOverride, os.Getenv("CNI_NETNS_OVERRIDE")); override != "" {
		env = append(env, "CNI_NETNS_OVERRIDE="+override)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(plugin)
	cmd.Env = env
	cmd.Stdin = bytes.NewReader(args.StdinData)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	runErr := cmd.Run()
	if stderr.Len() > 0 {
		fmt.Fprintf(os.Stderr, "conformance shim: %s %s stderr: %s\n", plugin, command, stderr.String())
	}
	if runErr == nil {
		_, err := os.Stdout.Write(stdout.Bytes())
		return err
	}
	if _, exited := runErr.(*exec.ExitError); !exited {
		return fmt.Errorf("conformance shim: %s %s: %v", plugin, command, runErr)
	}
	var cniErr types.Error
	if json.Unmarshal(stdout.Bytes(), &cniErr) != nil || (cniErr.Code == 0 && cniErr.Msg == "") {
		return fmt.Errorf("conformance shim: %s %s: %v, no CNI error on stdout: %q, stderr: %q",
			plugin, command, runErr, stdout.String(), stderr.String())
	}
	return &cniErr
}

func firstSet(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// The in-process harness leaves CNI_ARGS unset (the handlers read args.Args); a runtime passes them in CNI_ARGS, and
// containerd, CRI-O and podman put IgnoreUnknown=1 in front: without it host-local (which reads CNI_ARGS too)
// refuses the suite's "MAC=..." as an unknown key, for the reference as well.
func runtimeArgs(args string) string {
	if args == "" || strings.Contains(";"+args, ";IgnoreUnknown=") {
		return args
	}
	return "IgnoreUnknown=1;" + args
}
