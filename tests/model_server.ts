/**
 * A scripted stand-in for the Anthropic Messages API (the streaming subset
 * Claude Code uses), on host loopback. The script is a list of assistant
 * turns; each request of the agent's main loop (one that offers tools) gets
 * the next turn. Other requests (titles, quota checks) get a short text.
 * Every request body is recorded, so tests can check what the agent sent
 * back: tool results, exit codes, denial messages.
 */

export type ScriptedBlock =
  | { type: "text"; text: string }
  | { type: "tool_use"; name: string; input: Record<string, unknown> };

export interface ScriptedTurn {
  blocks: ScriptedBlock[];
}

export interface RecordedRequest {
  path: string;
  body: any;
}

export class ModelServer {
  readonly requests: RecordedRequest[] = [];
  #turn = 0;
  #server: Deno.HttpServer;
  #nextId = 1;

  constructor(readonly script: ScriptedTurn[]) {
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (request) => this.#handle(request),
    );
  }

  get port(): number {
    return (this.#server.addr as Deno.NetAddr).port;
  }

  /** Turns of the script that have been served. */
  get turnsServed(): number {
    return this.#turn;
  }

  /** The main-loop requests, which carry the conversation so far. */
  get conversationRequests(): RecordedRequest[] {
    return this.requests.filter((request) =>
      Array.isArray(request.body?.tools) && request.body.tools.length > 0
    );
  }

  /** Text of every tool result the agent sent back, in order. */
  toolResults(): Array<{ toolUseId: string; text: string; isError: boolean }> {
    const last = this.conversationRequests.at(-1);
    const results: Array<{ toolUseId: string; text: string; isError: boolean }> = [];
    for (const message of last?.body.messages ?? []) {
      if (message.role !== "user" || !Array.isArray(message.content)) continue;
      for (const block of message.content) {
        if (block.type !== "tool_result") continue;
        const text = typeof block.content === "string"
          ? block.content
          : (block.content ?? []).map((part: any) => part.text ?? "").join("");
        results.push({ toolUseId: block.tool_use_id, text, isError: Boolean(block.is_error) });
      }
    }
    return results;
  }

  /**
   * Makes the server reachable on `port` of a container's loopback through an
   * Incus proxy device, since test containers have no network.
   */
  async attachTo(container: string, port: number): Promise<void> {
    const output = await new Deno.Command("incus", {
      args: [
        "config",
        "device",
        "add",
        container,
        "model",
        "proxy",
        `listen=tcp:127.0.0.1:${port}`,
        `connect=tcp:127.0.0.1:${this.port}`,
        "bind=instance",
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!output.success) {
      throw new Error(
        `adding the model proxy to ${container} failed: ${new TextDecoder().decode(output.stderr)}`,
      );
    }
  }

  async close(): Promise<void> {
    await this.#server.shutdown();
  }

  async #handle(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    const body = request.method === "POST" ? await request.json().catch(() => ({})) : {};
    this.requests.push({ path, body });
    if (!path.endsWith("/v1/messages")) {
      if (path.endsWith("/count_tokens")) return Response.json({ input_tokens: 100 });
      return Response.json({}, { status: 404 });
    }
    const mainLoop = Array.isArray(body.tools) && body.tools.length > 0;
    let blocks: ScriptedBlock[];
    if (mainLoop && this.#turn < this.script.length) {
      blocks = this.script[this.#turn++].blocks;
    } else {
      blocks = [{ type: "text", text: mainLoop ? "Done." : "Fix the failing test" }];
    }
    const toolUses = blocks.filter((block) => block.type === "tool_use");
    const stopReason = toolUses.length > 0 ? "tool_use" : "end_turn";
    const model = body.model ?? "claude-scripted";
    const content = blocks.map((block) =>
      block.type === "text"
        ? { type: "text", text: block.text }
        : { type: "tool_use", id: `toolu_${this.#nextId++}`, name: block.name, input: block.input }
    );
    const usage = {
      input_tokens: 100,
      output_tokens: 20,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
    };
    const message = {
      id: `msg_${this.#nextId++}`,
      type: "message",
      role: "assistant",
      model,
      content,
      stop_reason: stopReason,
      stop_sequence: null,
      usage,
    };
    if (!body.stream) return Response.json(message);

    const events: string[] = [];
    const send = (type: string, data: Record<string, unknown>) =>
      events.push(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
    send("message_start", { message: { ...message, content: [], stop_reason: null } });
    content.forEach((block, index) => {
      if (block.type === "text") {
        send("content_block_start", { index, content_block: { type: "text", text: "" } });
        send("content_block_delta", { index, delta: { type: "text_delta", text: block.text } });
      } else {
        send("content_block_start", { index, content_block: { ...block, input: {} } });
        send("content_block_delta", {
          index,
          delta: { type: "input_json_delta", partial_json: JSON.stringify(block.input) },
        });
      }
      send("content_block_stop", { index });
    });
    send("message_delta", {
      delta: { stop_reason: stopReason, stop_sequence: null },
      usage: { output_tokens: 20 },
    });
    send("message_stop", {});
    return new Response(events.join(""), {
      headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
    });
  }
}
