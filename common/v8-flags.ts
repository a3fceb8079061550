// Memory tuning that procflow's services apply at start-up, unless the operator already chose.
import v8 from 'node:v8';

/**
 * Sets the V8 flag `--name=value` unless node was started with that flag (in either spelling,
 * `-` or `_`) or with one of `alsoOwnedBy`, on the command line or in NODE_OPTIONS. Returns
 * whether it was set. V8 reads these flags whenever it sizes the heap, so setting them at
 * start-up takes effect.
 */
export function setV8FlagUnlessGiven(name: string, value: number, alsoOwnedBy: string[] = []): boolean {
  const spellings = [name, ...alsoOwnedBy].flatMap((f) => [f, f.replaceAll('-', '_').replace(/^__/, '--')]);
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  if (given.some((a) => spellings.some((f) => a.startsWith(f)))) return false;
  v8.setFlagsFromString(`${name}=${value}`);
  return true;
}
