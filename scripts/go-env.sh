# Sourced by the run and test scripts: the example plugin builds offline against Debian's
# go-plugin in GOPATH mode. ovdev itself does not need this; it runs `go build` in whatever
# environment it is given.
export GOPATH=/usr/share/gocode
export GO111MODULE=off
export GOPROXY=off
export GOFLAGS=
