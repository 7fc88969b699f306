import assert from "node:assert/strict";
import { decodeRequest, encodeRequest } from "./wire.ts";

Deno.test("wire format round-trips hostile words", () => {
  const args = [
    "commit",
    "-m",
    'it\'s "quoted"\nline two',
    "",
    "$(rm -rf /)",
    "a b",
    "'",
    "''",
    "\\",
    "-",
  ];
  const request = { tty: true, tool: "git", cwd: "/w/x y", args };
  assert.deepEqual(decodeRequest(encodeRequest(request)), request);
});

Deno.test("wire format rejects malformed text", () => {
  for (
    const text of [
      "'locki-bridge-1' 'tty' 'git'",
      "locki-bridge-1 tty git /",
      "'locki-bridge-1' 'tty' 'git' '/' 'x",
      "'v0' 'tty' 'git' '/'",
      "'locki-bridge-1'  'tty' 'git' '/'",
    ]
  ) {
    assert.throws(() => decodeRequest(text), Error, text);
  }
});
