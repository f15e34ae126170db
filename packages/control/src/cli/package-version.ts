/**
 * The version weftd and weftctl print (`--version`): @weft/control's package.json, read next to the compiled
 * code, so the image and a checkout answer alike. 'unknown' when the file is missing, never a crash.
 */
import { readFileSync } from 'node:fs';

export function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
