// Command plugin is the backend of the hello-plugin example: a go-plugin gRPC server that
// answers PingPong.Ping with a greeting. Omniview starts it with OMNIVIEW=hello-plugin.
package main

import (
	"context"
	"log"

	plugin "github.com/hashicorp/go-plugin"
	grpctest "github.com/hashicorp/go-plugin/test/grpc"
	"google.golang.org/grpc"

	"./greeting"
)

var handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "OMNIVIEW",
	MagicCookieValue: "hello-plugin",
}

type pingServer struct{}

func (pingServer) Ping(ctx context.Context, _ *grpctest.PingRequest) (*grpctest.PongResponse, error) {
	return &grpctest.PongResponse{Msg: greeting.Message()}, nil
}

type helloPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (helloPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	grpctest.RegisterPingPongServer(s, pingServer{})
	return nil
}

func (helloPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (interface{}, error) {
	return nil, nil
}

func main() {
	log.Printf("hello-plugin starting: %s", greeting.Message())
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: handshake,
		Plugins:         map[string]plugin.Plugin{"hello": helloPlugin{}},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}
