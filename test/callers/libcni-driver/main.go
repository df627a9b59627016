// libcni-driver calls CNI plugins through libcni, the library that Multus, containerd and CRI-O use, so the tests
// can show that a real caller accepts vlan-bridge: config list parsing, chaining (prevResult), runtimeConfig
// injection for declared capabilities only, CNI_ARGS built from RuntimeConf.Args pairs (repeated keys kept, as
// Multus sends them), the result cache (what /var/lib/cni/results holds on a node) and VERSION via GetVersionInfo.
//
// Built offline against Debian's golang-github-appc-cni-dev (libcni 1.1.2) by test/callers/build-driver.sh.
//
// Usage:
//
//	libcni-driver -conflist FILE|- -command ADD|CHECK|DEL -container-id ID -netns PATH -ifname NAME \
//	    -cni-path DIR[:DIR...] -cache-dir DIR [-args 'K=V;K=V'] [-arg K=V]... [-args-file FILE] \
//	    [-capability-args JSON] [-capability-args-file FILE]
//	libcni-driver -command VERSION -cni-path DIR[:DIR...] [-conflist FILE] [-plugin TYPE]...
//	libcni-driver -command CACHED -conflist FILE -container-id ID -ifname NAME -cache-dir DIR
//
// ADD prints the final result (the one libcni caches) as JSON on stdout. CHECK and DEL print nothing on success.
// VERSION prints {"versionInfo":{TYPE:{"cniVersion","supportedVersions"}},"validate":{...}}: GetVersionInfo for
// each -plugin (default: every plugin type of the conflist) and, with a conflist, ValidateNetworkList's verdict
// (every plugin found and supporting the list's cniVersion). CACHED prints GetNetworkListCachedResult.
// Failures print "libcni-driver: ..." lines on stderr (the plugin error's code/msg/details as JSON when libcni
// got one) and exit 1; usage errors exit 2. Plugins' own stderr passes through to stderr.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func usage(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "libcni-driver: usage: "+format+"\n", a...)
	os.Exit(2)
}

func fail(command string, err error) {
	fmt.Fprintf(os.Stderr, "libcni-driver: %s failed: %v\n", command, err)
	var perr *types.Error
	if errors.As(err, &perr) {
		b, _ := json.Marshal(map[string]interface{}{"code": perr.Code, "msg": perr.Msg, "details": perr.Details})
		fmt.Fprintf(os.Stderr, "libcni-driver: plugin error: %s\n", b)
	}
	os.Exit(1)
}

func printJSON(v interface{}) {
	b, err := json.Marshal(v)
	if err != nil {
		fail("encoding output", err)
	}
	fmt.Println(string(b))
}

// parsePairs turns "K=V;K=V" into RuntimeConf.Args pairs in order, keeping repeated keys (libcni joins them back
// with ';' into CNI_ARGS exactly as given).
func parsePairs(s string) ([][2]string, error) {
	var out [][2]string
	if s == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ";") {
		p := strings.SplitN(kv, "=", 2)
		if len(p) != 2 || p[0] == "" {
			return nil, fmt.Errorf("bad CNI_ARGS pair %q (want K=V)", kv)
		}
		out = append(out, [2]string{p[0], p[1]})
	}
	return out, nil
}

func loadList(path string) (*libcni.NetworkConfigList, error) {
	if path == "-" {
		b, err := ioutil.ReadAll(os.Stdin)
		if err != nil {
			return nil, err
		}
		return libcni.ConfListFromBytes(b)
	}
	return libcni.ConfListFromFile(path)
}

func main() {
	var (
		conflist    = flag.String("conflist", "", "network config list file (- for stdin)")
		command     = flag.String("command", "", "ADD, CHECK, DEL, VERSION or CACHED")
		containerID = flag.String("container-id", "", "container ID (CNI_CONTAINERID)")
		netns       = flag.String("netns", "", "network namespace path (CNI_NETNS)")
		ifname      = flag.String("ifname", "", "interface name in the container (CNI_IFNAME)")
		argsStr     = flag.String("args", "", "CNI_ARGS as K=V;K=V (order and repeated keys kept)")
		argsFile    = flag.String("args-file", "", "JSON file: [[\"K\",\"V\"],...] appended to the args")
		capJSON     = flag.String("capability-args", "", "capability args as a JSON object, e.g. {\"mac\":\"..\",\"ips\":[..]}")
		capFile     = flag.String("capability-args-file", "", "capability args from a JSON file")
		cniPath     = flag.String("cni-path", "", "plugin directories, colon separated (CNI_PATH)")
		cacheDir    = flag.String("cache-dir", "", "libcni cache directory (results/ is written under it)")
		timeout     = flag.Duration("timeout", 60*time.Second, "overall timeout")
		argList     multiFlag
		plugins     multiFlag
	)
	flag.Var(&argList, "arg", "one CNI_ARGS pair K=V (repeatable, appended after -args)")
	flag.Var(&plugins, "plugin", "plugin type for VERSION (repeatable; default: the conflist's plugins)")
	flag.Parse()
	if flag.NArg() != 0 {
		usage("unexpected arguments %q", flag.Args())
	}

	cmd := strings.ToUpper(*command)
	if *cniPath == "" {
		usage("-cni-path is required")
	}
	paths := filepath.SplitList(*cniPath)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	var list *libcni.NetworkConfigList
	if *conflist != "" {
		var err error
		if list, err = loadList(*conflist); err != nil {
			fail("loading the config list", err)
		}
	}

	switch cmd {
	case "VERSION":
		// What runtimes and Multus do before using a plugin: ask it for its versions.
		cni := libcni.NewCNIConfig(paths, nil)
		pluginTypes := []string(plugins)
		if len(pluginTypes) == 0 && list != nil {
			for _, p := range list.Plugins {
				pluginTypes = append(pluginTypes, p.Network.Type)
			}
		}
		if len(pluginTypes) == 0 {
			usage("VERSION needs -plugin or -conflist")
		}
		info := map[string]interface{}{}
		for _, t := range pluginTypes {
			vi, err := cni.GetVersionInfo(ctx, t)
			if err != nil {
				fail("GetVersionInfo "+t, err)
			}
			// Encode writes the decoded answer back as {"cniVersion","supportedVersions"}.
			var buf bytes.Buffer
			if err := vi.Encode(&buf); err != nil {
				fail("encoding version info of "+t, err)
			}
			info[t] = json.RawMessage(bytes.TrimSpace(buf.Bytes()))
		}
		out := map[string]interface{}{"versionInfo": info}
		if list != nil {
			caps, err := cni.ValidateNetworkList(ctx, list)
			if err != nil {
				out["validate"] = map[string]interface{}{"error": err.Error()}
			} else {
				sort.Strings(caps)
				out["validate"] = map[string]interface{}{"capabilities": caps}
			}
		}
		printJSON(out)
		return
	case "ADD", "CHECK", "DEL", "CACHED":
	default:
		usage("-command must be ADD, CHECK, DEL, VERSION or CACHED (got %q)", *command)
	}

	if list == nil {
		usage("-conflist is required for %s", cmd)
	}
	if *cacheDir == "" {
		// Never fall back to /var/lib/cni: tests must not leave state on the machine.
		usage("-cache-dir is required for %s", cmd)
	}

	pairs, err := parsePairs(*argsStr)
	if err != nil {
		usage("%v", err)
	}
	if *argsFile != "" {
		b, err := ioutil.ReadFile(*argsFile)
		if err != nil {
			usage("%v", err)
		}
		var more [][2]string
		if err := json.Unmarshal(b, &more); err != nil {
			usage("%s: %v", *argsFile, err)
		}
		pairs = append(pairs, more...)
	}
	for _, a := range argList {
		p, err := parsePairs(a)
		if err != nil || len(p) != 1 {
			usage("bad -arg %q (want K=V)", a)
		}
		pairs = append(pairs, p[0])
	}

	capArgs := map[string]interface{}{}
	if *capJSON != "" {
		if err := json.Unmarshal([]byte(*capJSON), &capArgs); err != nil {
			usage("-capability-args: %v", err)
		}
	}
	if *capFile != "" {
		b, err := ioutil.ReadFile(*capFile)
		if err != nil {
			usage("%v", err)
		}
		more := map[string]interface{}{}
		if err := json.Unmarshal(b, &more); err != nil {
			usage("%s: %v", *capFile, err)
		}
		for k, v := range more {
			capArgs[k] = v
		}
	}

	rt := &libcni.RuntimeConf{
		ContainerID:    *containerID,
		NetNS:          *netns,
		IfName:         *ifname,
		Args:           pairs,
		CapabilityArgs: capArgs,
	}
	// libcni.NewCNIConfig(paths, nil) with the cache directory set, as Multus and containerd's go-cni construct it.
	cni := libcni.NewCNIConfigWithCacheDir(paths, *cacheDir, nil)

	switch cmd {
	case "ADD":
		res, err := cni.AddNetworkList(ctx, list, rt)
		if err != nil {
			fail("ADD", err)
		}
		printJSON(res)
	case "CHECK":
		if err := cni.CheckNetworkList(ctx, list, rt); err != nil {
			fail("CHECK", err)
		}
	case "DEL":
		if err := cni.DelNetworkList(ctx, list, rt); err != nil {
			fail("DEL", err)
		}
	case "CACHED":
		res, err := cni.GetNetworkListCachedResult(list, rt)
		if err != nil {
			fail("CACHED", err)
		}
		if res == nil {
			fmt.Println("null")
			return
		}
		printJSON(res)
	}
}
