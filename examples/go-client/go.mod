module github.com/omniviewdev/ovdev/examples/go-client

go 1.21
