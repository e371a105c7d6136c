// The part of AssemblyScript's compiler API scripts/build-wasm.mjs uses. The package's own
// typings declare AssemblyScript's globals (a `console` namespace among them), which would
// replace Node's console in every file tsconfig.scripts.json checks.
declare const asc: {
  main(
    argv: string[],
    options?: { stdout?: unknown; stderr?: unknown; readFile?: (name: string, dir: string) => unknown; writeFile?: (name: string, contents: Uint8Array | string, dir: string) => unknown },
  ): Promise<{ error: Error | null; stdout: { toString(): string }; stderr: { toString(): string } }>;
};
export default asc;
