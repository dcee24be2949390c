// Package hellov1 is the example plugin's gRPC API, generated from greeter.proto. The generated
// code is committed so that building the plugin needs no protoc.
package hellov1

// Regenerate after editing greeter.proto (needs protoc, protoc-gen-go v1.36.11 and
// protoc-gen-go-grpc v1.6.0 on PATH):
//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative greeter.proto
