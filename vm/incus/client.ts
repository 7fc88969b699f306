/**
 * A small client for the Incus REST API (https://linuxcontainers.org/incus/docs/main/rest-api/)
 * over the server's unix socket. Async operations are awaited, so callers see
 * one call per step and an `IncusApiError` on failure.
 */

/** An Incus API error: the HTTP status and the server's message. */
export class IncusApiError extends Error {
  constructor(readonly status: number, message: string, readonly path: string) {
    super(message);
    this.name = "IncusApiError";
  }
}

interface IncusResponse {
  type: "sync" | "async" | "error";
  status_code: number;
  error_code?: number;
  error?: string;
  operation?: string;
  metadata: any;
}

/** Max time to wait for one async operation (creating a container, starting it), in seconds. */
const OPERATION_TIMEOUT_SECONDS = 600;

export class IncusClient {
  constructor(readonly socketPath: string) {}

  /**
   * Sends one request and returns the response's `metadata`. An async
   * operation is waited for, and its failure raises like an error response.
   */
  async request(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<any> {
    const response = await this.#send(method, path, body, signal);
    if (response.type === "async" && response.operation) {
      return await this.#waitFor(response.operation, path, signal);
    }
    return response.metadata;
  }

  /** Sends raw bytes (a file upload) with extra headers and returns the response's `metadata`. */
  async upload(
    path: string,
    body: Uint8Array<ArrayBuffer>,
    headers: Record<string, string>,
  ): Promise<any> {
    const client = Deno.createHttpClient({ proxy: { transport: "unix", path: this.socketPath } });
    try {
      const response = await fetch(`http://incus${path}`, {
        method: "POST",
        client,
        headers: { "content-type": "application/octet-stream", ...headers },
        body,
      });
      const parsed = JSON.parse(await response.text());
      if (parsed.type === "error" || response.status >= 400) {
        throw new IncusApiError(
          parsed.error_code ?? response.status,
          parsed.error ?? `HTTP ${response.status}`,
          path,
        );
      }
      return parsed.metadata;
    } finally {
      client.close();
    }
  }

  /** Like `request`, but returns undefined for 404 instead of raising. */
  async find(path: string): Promise<any | undefined> {
    try {
      return await this.request("GET", path);
    } catch (error) {
      if (error instanceof IncusApiError && error.status === 404) return undefined;
      throw error;
    }
  }

  async #send(
    method: string,
    path: string,
    body: unknown,
    signal?: AbortSignal,
  ): Promise<IncusResponse> {
    // NOTE: one connection per request. With a kept-alive connection shared
    // between a start request and the wait on its operation, incusd 6.0.4
    // failed the container's pre-start hook after a 30 s timeout.
    const client = Deno.createHttpClient({ proxy: { transport: "unix", path: this.socketPath } });
    let text: string;
    let response: Response;
    try {
      response = await fetch(`http://incus${path}`, {
        method,
        client,
        signal,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      text = await response.text();
    } finally {
      client.close();
    }
    let parsed: IncusResponse;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new IncusApiError(
        response.status,
        `unexpected reply from Incus: ${text.slice(0, 200)}`,
        path,
      );
    }
    if (parsed.type === "error" || response.status >= 400) {
      throw new IncusApiError(
        parsed.error_code ?? response.status,
        parsed.error ?? `HTTP ${response.status}`,
        path,
      );
    }
    return parsed;
  }

  async #waitFor(operation: string, path: string, signal?: AbortSignal): Promise<any> {
    let result: IncusResponse;
    try {
      result = await this.#send(
        "GET",
        `${operation}/wait?timeout=${OPERATION_TIMEOUT_SECONDS}`,
        undefined,
        signal,
      );
    } catch (error) {
      // The server keeps running an operation whose waiter went away; cancel
      // it when it can be cancelled, so an interrupted create stops there.
      if (signal?.aborted) await this.#send("DELETE", operation, undefined).catch(() => {});
      throw error;
    }
    const metadata = result.metadata ?? {};
    if (metadata.status !== "Success") {
      throw new IncusApiError(
        metadata.status_code ?? 500,
        metadata.err || metadata.status || "operation failed",
        path,
      );
    }
    return metadata.metadata;
  }
}
