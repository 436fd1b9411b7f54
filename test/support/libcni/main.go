// A real libcni caller for the CNI tests and the bench: it runs a conflist's plugins exactly as
// runtimes built on libcni do (podman, CRI-O, Multus, containerd's go-cni), with Debian's libcni
// 1.1.2, so the plugin under test sees that library's environment, stdin, prevResult and cache.
//
//	libcni-caller [flags] add|check|del|result|validate CONFLIST
//
// Flags default to environment variables so a test can set either. On success `add` and
// `result` print the result JSON; on failure the error is printed as CNI error JSON on stdout
// and the exit code is 1 (2 for a usage error).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
)

func envOr(name, fallback string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return fallback
}

// parseArgs turns "K1=V1;K2=V2" (the CNI_ARGS form) into libcni's pairs, keeping their order.
func parseArgs(s string) ([][2]string, error) {
	var pairs [][2]string
	for _, kv := range strings.Split(s, ";") {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("CNI args entry %q is not KEY=VALUE", kv)
		}
		pairs = append(pairs, [2]string{k, v})
	}
	return pairs, nil
}

// fail prints err as a CNI error object: the plugin's code and details when libcni got a
// spec error back (it wraps them), and libcni's whole message, which names the failing plugin.
func fail(err error, exitCode int) {
	out := struct {
		Code    uint   `json:"code"`
		Msg     string `json:"msg"`
		Details string `json:"details,omitempty"`
	}{Msg: err.Error()}
	var cniErr *types.Error
	if errors.As(err, &cniErr) {
		out.Code, out.Details = cniErr.Code, cniErr.Details
	}
	data, _ := json.Marshal(out)
	fmt.Println(string(data))
	os.Exit(exitCode)
}

func main() {
	containerID := flag.String("containerid", envOr("CNI_CONTAINERID", ""), "container id")
	netns := flag.String("netns", envOr("CNI_NETNS", ""), "netns path (may be empty, as on a blind DEL)")
	ifName := flag.String("ifname", envOr("CNI_IFNAME", "eth0"), "interface name in the container")
	cniArgs := flag.String("args", envOr("CNI_ARGS", ""), "CNI_ARGS, K=V;K=V")
	capArgs := flag.String("cap-args", envOr("CAP_ARGS", ""), "capability args, a JSON object (runtimeConfig)")
	pluginDirs := flag.String("plugin-dirs", envOr("CNI_PATH", "/usr/lib/cni"), "plugin dirs, colon separated")
	cacheDir := flag.String("cache-dir", envOr("CNI_CACHE_DIR", libcni.CacheDir), "libcni's result cache dir")
	timeout := flag.Duration("timeout", 60*time.Second, "give up on the whole call after this")
	flag.Parse()
	if flag.NArg() != 2 {
		fail(errors.New("usage: libcni-caller [flags] add|check|del|result|validate CONFLIST"), 2)
	}
	verb, confPath := flag.Arg(0), flag.Arg(1)

	list, err := libcni.ConfListFromFile(confPath)
	if err != nil {
		fail(err, 1)
	}
	pairs, err := parseArgs(*cniArgs)
	if err != nil {
		fail(err, 2)
	}
	rt := &libcni.RuntimeConf{ContainerID: *containerID, NetNS: *netns, IfName: *ifName, Args: pairs}
	if *capArgs != "" {
		if err := json.Unmarshal([]byte(*capArgs), &rt.CapabilityArgs); err != nil {
			fail(fmt.Errorf("cap-args is not a JSON object: %w", err), 2)
		}
	}
	cni := libcni.NewCNIConfigWithCacheDir(filepath.SplitList(*pluginDirs), *cacheDir, nil)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	var result types.Result
	switch verb {
	case "add":
		result, err = cni.AddNetworkList(ctx, list, rt)
	case "check":
		err = cni.CheckNetworkList(ctx, list, rt)
	case "del":
		err = cni.DelNetworkList(ctx, list, rt)
	case "result":
		// What libcni would pass as prevResult on CHECK and DEL; "null" when nothing is cached.
		result, err = cni.GetNetworkListCachedResult(list, rt)
	case "validate":
		// Asks every plugin for VERSION and checks it supports the list's cniVersion.
		var caps []string
		if caps, err = cni.ValidateNetworkList(ctx, list); err == nil {
			data, _ := json.Marshal(map[string][]string{"capabilities": caps})
			fmt.Println(string(data))
		}
	default:
		fail(fmt.Errorf("unknown verb %q: add, check, del, result or validate", verb), 2)
	}
	if err != nil {
		fail(err, 1)
	}
	if verb == "add" || verb == "result" {
		data, err := json.Marshal(result)
		if err != nil {
			fail(err, 1)
		}
		fmt.Println(string(data))
	}
}
