export function planted(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.PLANTED;
}
