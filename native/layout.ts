// The decoder's view of bpf/procflow.h: sizes, byte offsets and constants of every record that
// crosses the kernel boundary, generated from the BPF object's BTF (native/layout.generated.ts,
// by npm run gen:layout), plus what the decoder derives from them.
import { LAYOUT } from './layout.generated.js';

export * from './layout.generated.js';

/** Records in a drained flow buffer: key and value, each padded to 8 bytes. */
export const FLOW_RECORD_SIZE = pad8(LAYOUT.pf_flow_key.size) + pad8(LAYOUT.pf_flow_value.size);

export function pad8(n: number): number {
  return (n + 7) & ~7;
}
