// Command go-client drives a running ovdev through its local API with Go's standard library
// only: it finds the instance from its runtime file, lists the plugins, and follows the
// event stream. It is what an IDE written in Go (Omniview) needs to embed ovdev as a sidecar.
//
//	go run . [-state-dir DIR] [-pid PID] [-events N] [-plugin ID]
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// runtimeInfo is <state>/run/ovdev-<pid>.json.
type runtimeInfo struct {
	PID     int      `json:"pid"`
	Socket  string   `json:"socket"`
	URL     *string  `json:"url"`
	Token   string   `json:"token"`
	Plugins []string `json:"plugins"`
}

// devServerState is the part of a plugin's state this client prints.
type devServerState struct {
	PluginID      string `json:"pluginID"`
	Mode          string `json:"mode"`
	GoStatus      string `json:"goStatus"`
	ViteStatus    string `json:"viteStatus"`
	ViteURL       string `json:"viteURL"`
	LastError     string `json:"lastError"`
	GRPCConnected bool   `json:"grpcConnected"`
}

func stateDir(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if d := os.Getenv("OMNIVIEW_STATE_DIR"); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".omniview"), nil
}

// findInstance returns the running instance: the one with pid, or the only one.
func findInstance(dir string, pid int) (*runtimeInfo, error) {
	files, _ := filepath.Glob(filepath.Join(dir, "run", "ovdev-*.json"))
	var live []*runtimeInfo
	for _, f := range files {
		if strings.HasSuffix(f, ".procs.json") {
			continue // the process record, not an API
		}
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var info runtimeInfo
		if json.Unmarshal(data, &info) != nil || syscall.Kill(info.PID, 0) != nil {
			continue // unreadable, or its process is gone
		}
		if pid == 0 || info.PID == pid {
			live = append(live, &info)
		}
	}
	switch len(live) {
	case 0:
		return nil, fmt.Errorf("no ovdev is running on %s; start one with `ovdev dev ./my-plugin`", dir)
	case 1:
		return live[0], nil
	default:
		return nil, fmt.Errorf("%d ovdev processes run on %s; choose one with -pid", len(live), dir)
	}
}

// client talks HTTP over the instance's unix socket; every request carries the token.
type client struct {
	http  *http.Client
	token string
}

func newClient(info *runtimeInfo) *client {
	transport := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", info.Socket)
		},
	}
	return &client{http: &http.Client{Transport: transport}, token: info.Token}
}

func (c *client) get(path string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, "http://localhost"+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	res, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		defer res.Body.Close()
		var body struct {
			Error string `json:"error"`
			Code  string `json:"code"`
		}
		_ = json.NewDecoder(res.Body).Decode(&body)
		return nil, fmt.Errorf("ovdev answered %d %s: %s", res.StatusCode, body.Code, body.Error)
	}
	return res, nil
}

func (c *client) plugins() ([]devServerState, error) {
	res, err := c.get("/api/v1/plugins")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var states []devServerState
	err = json.NewDecoder(res.Body).Decode(&states)
	sort.Slice(states, func(i, j int) bool { return states[i].PluginID < states[j].PluginID })
	return states, err
}

// follow prints n events of the stream ("event NAME" and its data), then returns.
func (c *client) follow(n int, plugin string) error {
	path := "/api/v1/events"
	if plugin != "" {
		path += "?plugin=" + plugin
	}
	res, err := c.get(path)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	fmt.Println("following events")
	scanner := bufio.NewScanner(res.Body)
	scanner.Buffer(make([]byte, 1024*1024), 64*1024*1024)
	name, seen := "", 0
	for scanner.Scan() {
		line := scanner.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data := strings.TrimPrefix(line, "data: ")
			if name == "plugin/devserver/status" {
				var s devServerState
				if err := json.Unmarshal([]byte(data), &s); err != nil {
					return fmt.Errorf("a status event is not a DevServerState: %w", err)
				}
				fmt.Printf("event %s %s go=%s vite=%s\n", name, s.PluginID, s.GoStatus, s.ViteStatus)
			} else {
				fmt.Printf("event %s %d bytes\n", name, len(data))
			}
		case line == "":
			if name != "" {
				seen++
				name = ""
				if seen >= n {
					return nil
				}
			}
		}
	}
	if err := scanner.Err(); err != nil {
		return err
	}
	return errors.New("ovdev closed the event stream")
}

func main() {
	dirFlag := flag.String("state-dir", "", "state directory (default $OMNIVIEW_STATE_DIR, else ~/.omniview)")
	pid := flag.Int("pid", 0, "the ovdev process, when several run")
	events := flag.Int("events", 0, "follow the event stream for this many events")
	plugin := flag.String("plugin", "", "only events of this plugin")
	flag.Parse()

	dir, err := stateDir(*dirFlag)
	if err == nil {
		var info *runtimeInfo
		if info, err = findInstance(dir, *pid); err == nil {
			c := newClient(info)
			var states []devServerState
			if states, err = c.plugins(); err == nil {
				for _, s := range states {
					fmt.Printf("plugin %s mode=%s go=%s vite=%s grpc=%t %s\n",
						s.PluginID, s.Mode, s.GoStatus, s.ViteStatus, s.GRPCConnected, s.ViteURL)
				}
				if *events > 0 {
					err = c.follow(*events, *plugin)
				}
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-client:", err)
		os.Exit(1)
	}
}
