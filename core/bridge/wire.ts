/**
 * The command format between the shims in a sandbox and the daemon: one
 * SSH exec request whose text is POSIX single-quoted words,
 * `'locki-bridge-1' '<tty|notty>' '<tool>' '<cwd>' '<arg>'...`, with a
 * quote inside a word written as '\''.
 */

export const PROTOCOL = "locki-bridge-1";

/**
 * Marker argument: the real arguments follow as the first N bytes of stdin.
 * Shims use it above `STDIN_ARGUMENTS_THRESHOLD` bytes, because SSH
 * servers accept exec requests of only about 32 KiB (the packet size every
 * implementation must support).
 */
export const STDIN_ARGUMENTS = "--locki-stdin-args";
export const STDIN_ARGUMENTS_THRESHOLD = 30000;

export interface BridgeRequest {
  /** Whether the client's stdout is a terminal, so git may colour its output. */
  tty: boolean;
  tool: string;
  cwd: string;
  args: string[];
}

/** Quotes one word for the wire (and for a POSIX shell). */
export function quoteWord(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

export function encodeRequest(request: BridgeRequest): string {
  return [PROTOCOL, request.tty ? "tty" : "notty", request.tool, request.cwd, ...request.args].map(
    quoteWord,
  ).join(" ");
}

/** Parses a request; raises on anything that is not exactly the format above. */
export function decodeRequest(text: string): BridgeRequest {
  const [protocol, tty, tool, cwd, ...args] = decodeWords(text);
  if (protocol !== PROTOCOL) {
    throw new Error(`unsupported bridge protocol '${protocol}'; update the sandbox's shims`);
  }
  if (tty !== "tty" && tty !== "notty") {
    throw new Error("invalid terminal flag in the bridge request");
  }
  if (!tool || !cwd) throw new Error("incomplete bridge request");
  return { tty: tty === "tty", tool, cwd, args };
}

/** Parses space-separated single-quoted words. */
export function decodeWords(text: string): string[] {
  const words: string[] = [];
  let index = 0;
  while (index < text.length) {
    let word = "";
    let started = false;
    while (index < text.length && text[index] !== " ") {
      if (text[index] === "'") {
        const end = text.indexOf("'", index + 1);
        if (end === -1) throw new Error("unterminated quote in the bridge request");
        word += text.slice(index + 1, end);
        index = end + 1;
        started = true;
      } else if (text.startsWith("\\'", index)) {
        word += "'";
        index += 2;
        started = true;
      } else {
        throw new Error(
          `unexpected character ${JSON.stringify(text[index])} in the bridge request`,
        );
      }
    }
    if (!started) throw new Error("empty word in the bridge request");
    words.push(word);
    if (index < text.length) index++; // the single space between words
  }
  return words;
}
