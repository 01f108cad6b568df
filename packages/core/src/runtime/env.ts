/** An OMNITOK_* switch from the environment (undefined outside Node, where there is no process.env). */
export function envVar(name: string): string | undefined {
  return typeof process !== 'undefined' ? process.env[name] : undefined;
}
