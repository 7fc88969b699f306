import type { Command } from "commander";
import { UsageError } from "../core/errors.ts";
import { deleteAll, ownContainers, stopAll } from "../core/fleet.ts";
import { bold, green, red, renderTable } from "../core/output.ts";
import { interruptible, openEngine } from "./engine.ts";
import { stopDaemon } from "../core/bridge/lifecycle.ts";

export function registerVm(program: Command): void {
  const vm = program
    .command("vm")
    .description("inspect and control the backend that runs the sandboxes");

  vm.command("status")
    .description("show the backend, whether it is ready, and the sandbox containers")
    .option("--json", "print the status as JSON")
    .action(async (options: { json?: boolean }) => {
      const engine = await openEngine();
      const status = await engine.backend.status();
      const containers = status.ready ? await ownContainers(engine) : [];
      if (options.json) {
        console.log(JSON.stringify({ ...status, containers }, null, 2));
      } else {
        console.log(
          `${bold("backend")}    ${status.backend} (${
            status.ready ? green("ready") : red("not ready")
          })`,
        );
        console.log(`${bold("isolation")}  ${status.isolation}`);
        for (const [key, value] of Object.entries(status.details)) console.log(`${key}: ${value}`);
        for (const problem of status.problems) console.log(`${red("problem:")} ${problem}`);
        if (containers.length > 0) {
          console.log("");
          console.log(renderTable(
            ["CONTAINER", "STATE", "BRANCH", "REPOSITORY"],
            containers.map((
              info,
            ) => [info.name, info.state, info.labels.branch ?? "", info.labels.repo ?? ""]),
          ));
        }
      }
      if (!status.ready) Deno.exitCode = 1;
    });

  vm.command("start")
    .description("start the backend (for lima: create or start the VM) without opening a sandbox")
    .action(async () => {
      const engine = await openEngine();
      await interruptible(
        engine,
        () => engine.backend.ensureReady((message) => engine.progress.step(message)),
      );
      engine.progress.done();
      console.error(`${engine.backend.name} backend ready`);
    });

  vm.command("stop")
    .description(
      "stop every sandbox container of your user, in every repository, and the VM under lima (each restarts on its next use)",
    )
    .action(async () => {
      const engine = await openEngine();
      const status = await engine.backend.status();
      const stopped = status.ready ? await stopAll(engine) : [];
      await stopDaemon(engine.paths);
      if (engine.backend.stopHost) {
        engine.progress.step("stopping the VM");
        await engine.backend.stopHost();
      }
      engine.progress.done();
      console.error(`stopped ${stopped.length} container${stopped.length === 1 ? "" : "s"}`);
    });

  vm.command("delete")
    .description(
      "delete every sandbox container of your user, in every repository, keeping worktrees, the shared home and settings",
    )
    .option("-y, --yes", "do not ask for confirmation")
    .action(async (options: { yes?: boolean }) => {
      const engine = await openEngine();
      if (!options.yes) {
        if (!Deno.stdin.isTerminal()) {
          throw new UsageError(
            "locki vm delete needs confirmation",
            "pass --yes to delete without asking",
          );
        }
        const count = (await engine.backend.status()).ready
          ? (await ownContainers(engine)).length
          : 0;
        if (
          !confirm(
            `delete ${count} sandbox container${count === 1 ? "" : "s"}? Worktrees are kept.`,
          )
        ) {
          console.error("nothing deleted");
          return;
        }
      }
      if (engine.backend.deleteHost) {
        // The containers, the image and the cache volume live in the VM.
        engine.progress.step("deleting the VM");
        await stopDaemon(engine.paths);
        await engine.backend.deleteHost();
        engine.progress.done();
        console.error(
          "deleted the VM and its containers; worktrees, the shared home and settings were kept, " +
            "and the next locki command creates the VM again",
        );
        return;
      }
      const deleted = await deleteAll(engine);
      engine.progress.done();
      console.error(
        `deleted ${deleted.length} container${deleted.length === 1 ? "" : "s"}; ` +
          "worktrees and the shared home were kept, and the next locki command recreates each container",
      );
    });
}
