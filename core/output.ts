import yoctoSpinner from "yocto-spinner";
import Table from "cli-table3";

const encoder = new TextEncoder();

/** Returns whether stderr gets colours: it is a terminal and `NO_COLOR` is unset. */
export function colorEnabled(): boolean {
  return !Deno.noColor && Deno.stderr.isTerminal();
}

function paint(code: number, text: string): string {
  return colorEnabled() ? `\x1b[${code}m${text}\x1b[0m` : text;
}

export const bold = (text: string) => paint(1, text);
export const red = (text: string) => paint(31, text);
export const yellow = (text: string) => paint(33, text);
export const green = (text: string) => paint(32, text);
export const dim = (text: string) => paint(2, text);

/** Writes one line to stderr, where every message but command data goes. */
export function note(text: string): void {
  Deno.stderr.writeSync(encoder.encode(text + "\n"));
}

export function warn(text: string): void {
  note(`${yellow("warning:")} ${text}`);
}

/**
 * Progress of a long command on stderr: a spinner on a terminal, one plain
 * line per step otherwise, so logs and CI output stay readable.
 */
export class Progress {
  #spinner?: ReturnType<typeof yoctoSpinner>;
  readonly #interactive = Deno.stderr.isTerminal() && !Deno.env.get("CI");

  readonly #timed = Boolean(Deno.env.get("LOCKI_DEBUG"));

  step(text: string): void {
    if (this.#timed) {
      // Milliseconds since the process started, to see where time goes.
      note(dim(`locki: [${performance.now().toFixed(0)} ms] ${text}`));
      return;
    }
    if (!this.#interactive) {
      note(dim(`locki: ${text}`));
      return;
    }
    if (this.#spinner) {
      this.#spinner.text = text;
    } else {
      this.#spinner = yoctoSpinner({
        text,
        handleSignals: false,
        color: colorEnabled() ? "cyan" : undefined,
      })
        .start();
    }
  }

  /** Ends the current step; `text`, when given, stays on screen as the result. */
  done(text?: string): void {
    if (this.#spinner) {
      if (text) this.#spinner.success(text);
      else this.#spinner.stop();
      this.#spinner = undefined;
    } else if (text) {
      note(text);
    }
  }

  fail(): void {
    this.#spinner?.stop();
    this.#spinner = undefined;
  }
}

/** Renders rows as aligned columns without borders, for terminal listings. */
export function renderTable(head: string[], rows: string[][]): string {
  const table = new Table({
    head: head.map((title) => bold(title)),
    chars: {
      "top": "",
      "top-mid": "",
      "top-left": "",
      "top-right": "",
      "bottom": "",
      "bottom-mid": "",
      "bottom-left": "",
      "bottom-right": "",
      "left": "",
      "left-mid": "",
      "mid": "",
      "mid-mid": "",
      "right": "",
      "right-mid": "",
      "middle": "  ",
    },
    style: { head: [], border: [], "padding-left": 0, "padding-right": 0 },
  });
  table.push(...rows);
  return table.toString().split("\n").map((line: string) => line.trimEnd()).join("\n");
}
