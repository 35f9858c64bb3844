import { readFile } from 'node:fs/promises';
import { parsePolicy, type Policy } from './policy';

/**
 * Reads and validates a policy file (e.g. `policy/pseudonymisation.yaml`) at start-up.
 * @throws {@link PolicyError} naming the bad rule; the fs error when the file cannot be read.
 */
export async function loadPolicyFile(path: string): Promise<Policy> {
  return parsePolicy(await readFile(path, 'utf8'));
}
