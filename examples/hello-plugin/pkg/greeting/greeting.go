// Package greeting holds the text the plugin answers with; edit it to watch ovdev rebuild.
package greeting

// Message is what hello.v1.Greeter/Greet returns.
func Message() string {
	return "hello from hello-plugin"
}
