"""A real MCP client (the official Python SDK) against `ovdev mcp`, run by tests/mcp.rs.

Usage: client.py none | session  (env: OVDEV_BIN, STATE_DIR, GREETING, EXPECT_LINE)
"""
import asyncio
import json
import os
import sys
import time

from mcp import ClientSession, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client
import mcp_types

import anyio

BIN = os.environ["OVDEV_BIN"]
STATE = os.environ["STATE_DIR"]


def text(result):
    assert not result.is_error, result
    return "".join(c.text for c in result.content if getattr(c, "text", None))


UPDATES = []


async def on_message(message):
    """Records the URIs of `notifications/resources/updated`."""
    root = getattr(message, "root", message)
    if isinstance(root, mcp_types.ResourceUpdatedNotification):
        UPDATES.append(str(root.params.uri))


async def with_server(extra, body):
    params = StdioServerParameters(command=BIN, args=["mcp", "--state-dir", STATE, *extra])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, message_handler=on_message) as session:
            await session.initialize()
            await body(session)


async def expect_error(session, tool, args, words):
    """A tool error: a result with is_error whose text the model can act on."""
    result = await session.call_tool(tool, args)
    assert result.is_error, f"{tool} did not fail: {result}"
    message = "".join(c.text for c in result.content if getattr(c, "text", None))
    for w in words:
        assert w in message, message
    return message


async def none_running(session):
    tools = await session.list_tools()
    assert any(t.name == "list_plugins" for t in tools.tools)
    message = await expect_error(session, "list_plugins", {}, ["no ovdev is running", "ovdev dev"])
    print("no ovdev:", message)


async def read_only(session):
    tools = {t.name: t for t in (await session.list_tools()).tools}
    expected = {"list_plugins", "get_plugin", "build_errors", "logs", "build_history", "wait_until_ready"}
    assert set(tools) == expected, sorted(tools)
    for name in expected:
        assert tools[name].annotations.read_only_hint is True, name
        assert tools[name].input_schema["type"] == "object", name
    assert "plugin_id" in tools["build_errors"].input_schema["properties"]
    plugins = json.loads(text(await session.call_tool("list_plugins", {})))
    assert [p["pluginID"] for p in plugins] == ["hello-plugin"], plugins
    ready = text(await session.call_tool("wait_until_ready", {"condition": "connected", "timeout_secs": 120}))
    assert ready.startswith("hello-plugin is connected"), ready

    # A syntax error, then build_errors with file:line:column.
    greeting = os.environ["GREETING"]
    with open(greeting) as f:
        good = f.read()
    tmp = greeting + ".tmp"
    # Subscribed to the plugin's errors: the failed build is announced.
    errors_uri = "ovdev://plugins/hello-plugin/errors"
    await session.subscribe_resource(errors_uri)
    with open(tmp, "w") as f:
        f.write(good + "\nfunc broken() { return 1 }\n")
    os.rename(tmp, greeting)
    with anyio.fail_after(120):
        while errors_uri not in UPDATES:
            await anyio.sleep(0.05)
    print("subscription: notifications/resources/updated", errors_uri)
    deadline = time.time() + 120
    while True:
        answer = text(await session.call_tool("build_errors", {"plugin_id": "hello-plugin"}))
        if not answer.startswith("no build errors"):
            break
        assert time.time() < deadline, "no build error"
        await asyncio.sleep(0.2)
    errors = json.loads(answer)
    first = errors[0]
    assert first["file"].endswith("pkg/greeting/greeting.go"), first
    assert first["line"] == int(os.environ["EXPECT_LINE"]), first
    assert first["column"] > 0 and "too many return values" in first["message"], first
    assert first["severity"] == "error", first
    print(f"build_errors: {first['file']}:{first['line']}:{first['column']}: {first['message']}")

    # The same through resources.
    uris = [str(r.uri) for r in (await session.list_resources()).resources]
    assert uris == ["ovdev://plugins", "ovdev://plugins/hello-plugin", "ovdev://plugins/hello-plugin/errors"], uris
    read = await session.read_resource("ovdev://plugins/hello-plugin/errors")
    assert json.loads(read.contents[0].text)[0]["line"] == first["line"], read
    state = json.loads((await session.read_resource("ovdev://plugins/hello-plugin")).contents[0].text)
    assert state["goStatus"] == "error", state
    try:
        await session.read_resource("ovdev://plugins/nobody")
        raise AssertionError("an unknown plugin's resource was read")
    except MCPError as e:
        assert "nobody" in str(e), e

    logs = text(await session.call_tool("logs", {"source": "go-build", "text": "return values", "tail": 5}))
    assert "too many return values" in logs and "capped at 64 KiB" in logs, logs
    history = json.loads(text(await session.call_tool("build_history", {})))
    assert history[-1]["result"] == "failed", history
    await expect_error(session, "wait_until_ready", {"timeout_secs": 1}, ["is in error", "build_errors"])
    await expect_error(session, "rebuild", {}, ["--allow-control"])
    await expect_error(session, "get_plugin", {"plugin_id": "../etc"}, ["plugin id"])
    with open(tmp, "w") as f:
        f.write(good)
    os.rename(tmp, greeting)


async def control(session):
    tools = {t.name: t for t in (await session.list_tools()).tools}
    for name in ["rebuild", "restart", "stop", "start"]:
        assert name in tools, sorted(tools)
    assert tools["stop"].annotations.destructive_hint is True
    assert tools["rebuild"].annotations.read_only_hint is False
    ready = text(await session.call_tool("wait_until_ready", {"timeout_secs": 120}))
    assert ready.startswith("hello-plugin is ready"), ready
    build = json.loads(text(await session.call_tool("rebuild", {"plugin_id": "hello-plugin"})))
    assert build["result"] == "succeeded" and build["trigger"]["kind"] == "manual", build
    print("rebuild:", build["number"], build["result"], build["trigger"])


async def main():
    if sys.argv[1] == "none":
        await with_server([], none_running)
    else:
        await with_server([], read_only)
        await with_server(["--allow-control"], control)
    print("mcp client: ok")


asyncio.run(main())
