// The decoder's view of bpf/procflow.h: sizes, byte offsets and constants of every record that
// crosses the kernel boundary, generated from the BPF object's BTF (native/layout.generated.ts,
// by npm run gen:layout), plus what the decoder derives from them.
import * as generated from './layout.generated.js';
import { LAYOUT } from './layout.generated.js';
import { NAMESPACE_NAMES, type NamespaceInodes } from './types.js';

export * from './layout.generated.js';

/** Records in a drained flow buffer: key and value, each padded to 8 bytes. */
export const FLOW_RECORD_SIZE = pad8(LAYOUT.pf_flow_key.size) + pad8(LAYOUT.pf_flow_value.size);

export function pad8(n: number): number {
  return (n + 7) & ~7;
}

/**
 * Slot of each namespace in pf_exec_event.ns: enum pf_ns_slot's PF_NS_<NAME>. A name without
 * its constant (or a count that differs) is a header and decoder out of step: fail at load.
 */
export const NS_SLOTS: Readonly<NamespaceInodes> = (() => {
  const table = generated as unknown as Record<string, number | undefined>;
  const slots = {} as NamespaceInodes;
  for (const name of NAMESPACE_NAMES) {
    const slot = table[`PF_NS_${name.toUpperCase()}`];
    if (slot === undefined) throw new Error(`native/layout: bpf/procflow.h has no PF_NS_${name.toUpperCase()}`);
    slots[name] = slot;
  }
  if (generated.PF_NS_COUNT !== NAMESPACE_NAMES.length) throw new Error('native/layout: PF_NS_COUNT and NAMESPACE_NAMES differ');
  return slots;
})();
