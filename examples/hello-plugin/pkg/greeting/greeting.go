// Package greeting holds the text the plugin answers with; edit it to watch ovdev rebuild.
package greeting

// Message is what PingPong.Ping returns.
func Message() string {
	return "hello from hello-plugin"
}
