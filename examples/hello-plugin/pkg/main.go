// Command plugin is the backend of the hello-plugin example, shaped like an Omniview plugin
// built on the plugin SDK: a go-plugin gRPC server (go-plugin v1.7) with the OMNIVIEW magic
// cookie, versioned plugin sets, an hclog logger on stderr, and a service of its own
// (hello.v1.Greeter). Omniview, or ovdev, starts it with OMNIVIEW=hello-plugin.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	hellov1 "example.com/hello-plugin/pkg/api/hello/v1"
	"example.com/hello-plugin/pkg/greeting"
)

const pluginID = "hello-plugin"

// protocolVersion is the SDK protocol version the plugin set is registered under.
const protocolVersion = 1

var handshake = plugin.HandshakeConfig{
	ProtocolVersion:  protocolVersion,
	MagicCookieKey:   "OMNIVIEW",
	MagicCookieValue: pluginID,
}

type greeterServer struct {
	hellov1.UnimplementedGreeterServer
	log hclog.Logger
}

func (s greeterServer) Greet(_ context.Context, req *hellov1.GreetRequest) (*hellov1.GreetResponse, error) {
	s.log.Info("greet called", "name", req.GetName())
	// Once serving, os.Stdout and os.Stderr are go-plugin's pipes: these lines reach the host
	// over the GRPCStdio stream, not the process's own stdout and stderr.
	fmt.Fprintf(os.Stdout, "greeting %q on stdout\n", req.GetName())
	fmt.Fprintf(os.Stderr, "greeting %q on stderr\n", req.GetName())
	return &hellov1.GreetResponse{Message: greeting.Message()}, nil
}

// greeterPlugin registers the Greeter service with go-plugin; the IDE side dispenses it.
type greeterPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	log hclog.Logger
}

func (p *greeterPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	hellov1.RegisterGreeterServer(s, greeterServer{log: p.log})
	return nil
}

func (p *greeterPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return hellov1.NewGreeterClient(c), nil
}

func main() {
	logger := hclog.New(&hclog.LoggerOptions{Name: pluginID, Level: hclog.Debug})
	logger.Info("starting", "greeting", greeting.Message())
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: handshake,
		VersionedPlugins: map[int]plugin.PluginSet{
			protocolVersion: {"greeter": &greeterPlugin{log: logger}},
		},
		GRPCServer: plugin.DefaultGRPCServer,
		Logger:     logger,
	})
}
