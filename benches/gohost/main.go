// Command gohost times go-plugin's own Go host on a plugin binary, for comparison with
// ovdev's host in benches/plugin_host.rs: spawn -> SERVING (NewClient, Client, Ping) and
// Shutdown -> exit (Kill). Prints one line per round: "<serving ns> <stop ns>".
package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: gohost BINARY PLUGIN_ID ROUNDS")
		os.Exit(2)
	}
	bin, id := os.Args[1], os.Args[2]
	rounds, err := strconv.Atoi(os.Args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, "ROUNDS must be a number")
		os.Exit(2)
	}
	for i := 0; i < rounds; i++ {
		start := time.Now()
		client := plugin.NewClient(&plugin.ClientConfig{
			HandshakeConfig: plugin.HandshakeConfig{
				ProtocolVersion:  1,
				MagicCookieKey:   "OMNIVIEW",
				MagicCookieValue: id,
			},
			Plugins:          map[string]plugin.Plugin{},
			Cmd:              exec.Command(bin),
			AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
			Logger:           hclog.NewNullLogger(),
		})
		rpc, err := client.Client()
		if err != nil {
			fmt.Fprintln(os.Stderr, "client:", err)
			os.Exit(1)
		}
		if err := rpc.Ping(); err != nil {
			fmt.Fprintln(os.Stderr, "ping:", err)
			os.Exit(1)
		}
		serving := time.Since(start)
		start = time.Now()
		client.Kill()
		stopped := time.Since(start)
		fmt.Printf("%d %d\n", serving.Nanoseconds(), stopped.Nanoseconds())
	}
}
