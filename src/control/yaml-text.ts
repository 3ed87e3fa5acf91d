// YAML text a user gave (an inventory, extra_vars): its value, or why it has none, in one line.
import { parse } from 'yaml';

/**
 * Parses YAML (JSON is YAML). The parser recurses: text nested some hundreds of levels deep
 * overflows the stack, which it reports as a parse error; that is said plainly here.
 */
export function readYaml(text: string): { value: unknown } | { error: string } {
  try {
    return { value: parse(text) as unknown };
  } catch (err) {
    const message = (err as Error).message;
    if (err instanceof RangeError || message.includes('Maximum call stack size exceeded')) return { error: 'nested too deeply to read' };
    return { error: message.split('\n')[0] ?? message };
  }
}
