// V8 grows the young generation (two semi-spaces) up to 16 MiB each once allocation runs hot,
// and keeps it: an agent that drained one busy interval holds ~32 MiB more RSS from then on.
// The agent's garbage is short-lived (drained records, documents being serialised), so the
// young generation at its starting size collects it just as well: measured with the agent
// benchmark, 100k active flows held 138 -> ~108 MiB RSS and their flush peak 155 -> ~130 MiB,
// with the same events/s and CPU per event. The growth factor is read each time V8 considers
// growing, so setting it at start-up takes effect; an operator's own flag wins.
import { setV8FlagUnlessGiven } from '../common/v8-flags.js';

/** Keeps the young generation at its starting size; false when the operator set it already. */
export function limitYoungGeneration(): boolean {
  return setV8FlagUnlessGiven('--semi-space-growth-factor', 1, ['--max-semi-space-size']);
}
